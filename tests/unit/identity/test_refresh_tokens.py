"""Refresh tokens: opaque, stored hashed, rotated on use; reuse revokes the whole family."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import httpx
from sqlmodel import col, select

from services.identity.models import RefreshFamily, RefreshToken
from shared.db import Database, utc_now
from shared.events.catalog import TokensRevoked
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from tests.unit.identity.factories import bearer, login, registered_user, unverified_parts

PASSWORD = "correct horse battery"


async def _logged_in(client: httpx.AsyncClient, email: str) -> dict[str, object]:
    await registered_user(client, email=email)
    response = await login(client, email, PASSWORD)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def _refresh(client: httpx.AsyncClient, token: object) -> httpx.Response:
    return await client.post("/v1/auth/refresh", json={"refresh_token": token})


async def _revocations(database: Database) -> list[TokensRevoked]:
    async with database.unit_of_work() as session:
        rows = await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.event_type == "rapport.identity.tokens.revoked.v1")
            .order_by(col(OutboxMessage.id))
        )
        events = []
        for row in rows.all():
            envelope = decode(row.key, row.value, [(k, v.encode()) for k, v in row.headers])
            assert isinstance(envelope.payload, TokensRevoked)
            events.append(envelope.payload)
        return events


async def test_login_keeps_its_shape_and_adds_an_opaque_refresh_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await _logged_in(client, "shape@example.com")
    assert {"access_token", "token_type", "expires_in", "user"} <= body.keys()
    token = body["refresh_token"]
    assert isinstance(token, str) and token.count(".") == 0  # not a JWT
    assert len(token) >= 43  # 256 bits, base64url
    async with database.unit_of_work() as session:
        stored = list((await session.exec(select(RefreshToken))).all())
    assert [row.token_hash for row in stored] == [hashlib.sha256(token.encode()).hexdigest()]


async def test_a_refresh_rotates_the_token_and_gives_a_working_access_token(
    client: httpx.AsyncClient,
) -> None:
    first = await _logged_in(client, "rotate@example.com")
    refreshed = await _refresh(client, first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    body = refreshed.json()
    assert body["refresh_token"] != first["refresh_token"]
    assert body["user"]["email"] == "rotate@example.com"
    me = await client.get("/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert (await _refresh(client, body["refresh_token"])).status_code == 200


async def test_reusing_a_refresh_token_revokes_the_family_for_every_holder(
    client: httpx.AsyncClient, database: Database
) -> None:
    first = await _logged_in(client, "stolen@example.com")
    # The legitimate client rotates; an attacker kept a copy of the first token.
    legitimate = (await _refresh(client, first["refresh_token"])).json()["refresh_token"]

    replay = await _refresh(client, first["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["error"] == "InvalidRefreshToken"
    # The legitimate holder of the family's current token is logged out too.
    after = await _refresh(client, legitimate)
    assert after.status_code == 401
    assert after.json() == replay.json()

    revoked = await _revocations(database)
    assert [event.reason for event in revoked] == ["refresh_reuse"]
    # Other logins of the same user are separate families and keep working.
    other = (await login(client, "stolen@example.com", PASSWORD)).json()
    assert (await _refresh(client, other["refresh_token"])).status_code == 200


async def test_logout_revokes_the_family(client: httpx.AsyncClient, database: Database) -> None:
    body = await _logged_in(client, "bye@example.com")
    out = await client.post("/v1/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert out.status_code == 204
    assert (await _refresh(client, body["refresh_token"])).status_code == 401
    assert [event.reason for event in await _revocations(database)] == ["logout"]
    # Logging out twice (or with an unknown token) is not an error.
    again = await client.post("/v1/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 204
    unknown = await client.post("/v1/auth/logout", json={"refresh_token": "nope"})
    assert unknown.status_code == 204


async def test_tokens_name_their_sign_in_and_its_logout_ends_them(
    client: httpx.AsyncClient, database: Database
) -> None:
    body = await _logged_in(client, "two-devices@example.com")
    other = (await login(client, "two-devices@example.com", PASSWORD)).json()
    family = uuid.UUID(unverified_parts(str(body["access_token"]))[1]["fid"])
    assert unverified_parts(other["access_token"])[1]["fid"] != str(family)
    refreshed = (await _refresh(client, body["refresh_token"])).json()
    # A refresh continues the sign-in; so does a signaling token requested with its token.
    assert unverified_parts(refreshed["access_token"])[1]["fid"] == str(family)
    session_id = str(uuid.uuid4())
    issued = await client.post(
        "/v1/signaling-tokens",
        headers=bearer(refreshed["access_token"]),
        json={"session_id": session_id},
    )
    assert issued.status_code == 200, issued.text
    assert unverified_parts(issued.json()["token"])[1]["fid"] == str(family)

    out = await client.post("/v1/auth/logout", json={"refresh_token": refreshed["refresh_token"]})
    assert out.status_code == 204
    [event] = await _revocations(database)
    assert (event.reason, event.family_id) == ("logout", family)
    # Identity mints nothing more from the ended sign-in; the other device's goes on.
    refused = await client.post(
        "/v1/signaling-tokens",
        headers=bearer(refreshed["access_token"]),
        json={"session_id": session_id},
    )
    assert refused.status_code == 401
    assert refused.json()["detail"] == "this sign-in has ended"
    still = await client.post(
        "/v1/signaling-tokens",
        headers=bearer(other["access_token"]),
        json={"session_id": session_id},
    )
    assert still.status_code == 200, still.text


async def test_an_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await _refresh(client, "x" * 43)
    assert response.status_code == 401
    assert response.json()["error"] == "InvalidRefreshToken"


async def test_idle_timeout_and_absolute_lifetime_end_a_refresh_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    idle = await _logged_in(client, "idle@example.com")
    absolute = (await login(client, "idle@example.com", PASSWORD)).json()
    idle_hash = hashlib.sha256(str(idle["refresh_token"]).encode()).hexdigest()
    abs_hash = hashlib.sha256(str(absolute["refresh_token"]).encode()).hexdigest()
    past = utc_now() - timedelta(seconds=1)
    async with database.unit_of_work() as session:
        token = await session.get(RefreshToken, idle_hash)
        assert token is not None
        token.expires_at = past
        session.add(token)
        other = await session.get(RefreshToken, abs_hash)
        assert other is not None
        family = await session.get(RefreshFamily, other.family_id)
        assert family is not None
        family.expires_at = past
        session.add(family)
    assert (await _refresh(client, idle["refresh_token"])).status_code == 401
    assert (await _refresh(client, absolute["refresh_token"])).status_code == 401


async def test_a_deactivated_users_refresh_token_is_refused(
    client: httpx.AsyncClient, database: Database
) -> None:
    from services.identity.models import User

    body = await _logged_in(client, "gone@example.com")
    async with database.unit_of_work() as session:
        user = await session.get(User, uuid.UUID(str(body["user"]["id"])))  # type: ignore[index]
        assert user is not None
        user.is_active = False
        session.add(user)
    assert (await _refresh(client, body["refresh_token"])).status_code == 401
