"""The command line, run as ``python -m services.identity`` would run it (in a thread)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import jwt
import pytest
from sqlmodel import col, select

from services.identity.__main__ import main
from services.identity.models import Invitation, User
from shared.db import Database
from shared.events.catalog import InvitationAccepted, UserRegistered
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from tests.unit.identity.factories import (
    access_token,
    bearer,
    login,
    registered_user,
    served_keys,
    unverified_parts,
)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    monkeypatch.setenv("RAPPORT_IDENTITY_DATABASE_URL", database_url)
    monkeypatch.setenv("RAPPORT_ENVIRONMENT", "test")
    return database_url


async def run_cli(*argv: str) -> int:
    # main() runs its own event loop (asyncio.run), so it needs a thread of its own here.
    return await asyncio.to_thread(main, list(argv))


async def test_seed_demo_migrates_creates_the_demo_accounts_and_is_idempotent(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("seed-demo") == 0
    first = capsys.readouterr().out
    assert await run_cli("seed-demo") == 0
    second = capsys.readouterr().out

    for email, password in [
        ("clinician@demo.rapport", "demo-clinician-pass"),
        ("client@demo.rapport", "demo-client-pass"),
        ("admin@demo.rapport", "demo-admin-pass"),
    ]:
        assert re.search(rf"created .*{email} .*password={password} .*id=", first)
        assert re.search(rf"exists .*{email} ", second)
    ids = re.findall(r"id=([0-9a-f-]{36})", first)
    assert len(ids) == 3
    assert re.findall(r"id=([0-9a-f-]{36})", second) == ids

    database = Database(cli_env)
    try:
        async with database.unit_of_work() as session:
            users = (await session.exec(select(User).order_by(col(User.email)))).all()
            outbox = (await session.exec(select(OutboxMessage))).all()
    finally:
        await database.dispose()
    assert {(u.email, u.role) for u in users} == {
        ("admin@demo.rapport", "admin"),
        ("client@demo.rapport", "client"),
        ("clinician@demo.rapport", "clinician"),
    }
    assert {str(u.id) for u in users} == set(ids)
    # One UserRegistered per account and one InvitationAccepted, from the first run only.
    payloads = [
        decode(m.key, m.value, [(k, v.encode()) for k, v in m.headers]).payload for m in outbox
    ]
    assert len(payloads) == 4
    registered = [p for p in payloads if isinstance(p, UserRegistered)]
    assert {(str(p.user_id), p.role) for p in registered} == {(str(u.id), u.role) for u in users}
    [accepted] = [p for p in payloads if isinstance(p, InvitationAccepted)]
    by_email = {u.email: u.id for u in users}
    assert (accepted.clinician_id, accepted.client_id) == (
        by_email["clinician@demo.rapport"],
        by_email["client@demo.rapport"],
    )
    assert "linked  the demo client accepted" in first
    assert "exists  the demo client accepted" in second


async def test_seed_demo_links_demo_accounts_that_existed_before_linking(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """An older seed made the accounts without the link: the next run adds only the link."""
    assert await run_cli("seed-demo") == 0
    database = Database(cli_env)
    try:
        async with database.unit_of_work() as session:
            for invitation in (await session.exec(select(Invitation))).all():
                await session.delete(invitation)
            for message in (await session.exec(select(OutboxMessage))).all():
                await session.delete(message)
        capsys.readouterr()
        assert await run_cli("seed-demo") == 0
        assert "linked  the demo client accepted" in capsys.readouterr().out
        async with database.unit_of_work() as session:
            accepted = (await session.exec(select(Invitation))).one()
            outbox = (await session.exec(select(OutboxMessage))).all()
            client = (
                await session.exec(select(User).where(User.email == "client@demo.rapport"))
            ).one()
    finally:
        await database.dispose()
    assert accepted.accepted_by == client.id and accepted.accepted_at is not None
    [payload] = [
        decode(m.key, m.value, [(k, v.encode()) for k, v in m.headers]).payload for m in outbox
    ]
    assert isinstance(payload, InvitationAccepted)
    assert payload.invitation_id == accepted.id


async def test_seed_demo_logins_work(
    cli_env: str, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("seed-demo") == 0
    response = await login(client, "clinician@demo.rapport", "demo-clinician-pass")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["role"] == "clinician"


def test_seed_demo_refuses_to_run_in_production(
    cli_env: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RAPPORT_ENVIRONMENT", "production")
    assert main(["seed-demo"]) == 2
    assert "production" in capsys.readouterr().err
    assert not (tmp_path / "identity.db").exists()


async def test_create_user_makes_admins_and_refuses_duplicates(
    cli_env: str, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["create-user", "--email", "Root@Example.com", "--password", "operator-pass"]
    assert await run_cli(*argv, "--display-name", "Root", "--role", "admin") == 0
    assert "created admin root@example.com" in capsys.readouterr().out

    response = await login(client, "root@example.com", "operator-pass")
    assert response.status_code == 200, response.text
    assert response.json()["user"]["role"] == "admin"

    assert await run_cli(*argv, "--display-name", "Root again", "--role", "client") == 1
    assert "already exists" in capsys.readouterr().err


async def test_create_user_explains_a_bad_password(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("migrate") == 0
    argv = ["create-user", "--email", "a@example.com", "--password", "short"]
    assert await run_cli(*argv, "--display-name", "A", "--role", "client") == 1
    assert "password: must be 8 to 128 characters long" in capsys.readouterr().err


async def test_commands_on_an_unmigrated_database_say_so(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run_cli("rotate-keys") == 1
    assert "migrate" in capsys.readouterr().err


async def test_rotate_keys_old_tokens_still_verify_and_new_ones_carry_the_new_kid(
    cli_env: str, client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await registered_user(client, email="steady@example.com")
    old_token = await access_token(client, "steady@example.com")
    old_kid = unverified_parts(old_token)[0]["kid"]

    assert await run_cli("rotate-keys") == 0
    output = capsys.readouterr().out
    new_kid = re.search(r"new signing key: (\S+)", output)
    assert new_kid is not None
    assert f"retired: {old_kid}" in output
    assert new_kid.group(1) != old_kid

    assert (await client.get("/v1/users/me", headers=bearer(old_token))).status_code == 200
    new_token = await access_token(client, "steady@example.com")
    assert unverified_parts(new_token)[0]["kid"] == new_kid.group(1)
    assert (await client.get("/v1/users/me", headers=bearer(new_token))).status_code == 200

    # Other services, holding the JWKS, verify both.
    keys = await served_keys(client)
    assert set(keys) == {old_kid, new_kid.group(1)}
    for token in (old_token, new_token):
        kid = unverified_parts(token)[0]["kid"]
        jwt.decode(token, keys[kid].key, algorithms=["EdDSA"], audience="rapport")
