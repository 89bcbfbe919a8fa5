"""Identity's HTTP API, end to end through the real app on a migrated SQLite file."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest
from sqlmodel import col, select

from services.identity.models import User
from shared.db import Database
from shared.events.catalog import UserRegistered
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from shared.tokens import StaticKeySource, TokenVerifier
from tests.support.tokens import TestTokenIssuer
from tests.unit.identity.factories import (
    access_token,
    bearer,
    login,
    register,
    registered_user,
    served_keys,
    unverified_parts,
    with_claims,
    with_header,
)

PASSWORD = "correct horse battery"


async def test_register_then_login_then_me(client: httpx.AsyncClient) -> None:
    registered = await register(
        client, email="ada@example.com", display_name="  Ada Lovelace ", role="clinician"
    )
    assert registered.status_code == 201, registered.text
    user = registered.json()
    assert user == {
        "id": user["id"],
        "email": "ada@example.com",
        "display_name": "Ada Lovelace",
        "role": "clinician",
        "time_zone": "UTC",
    }
    uuid.UUID(user["id"])

    logged_in = await login(client, "ada@example.com", PASSWORD)
    assert logged_in.status_code == 200, logged_in.text
    body = logged_in.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"] == user

    me = await client.get("/v1/users/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json() == user


async def test_email_is_stored_lower_case_and_login_ignores_case(
    client: httpx.AsyncClient,
) -> None:
    user = await registered_user(client, email="Grace.Hopper@Example.COM")
    assert user["email"] == "grace.hopper@example.com"
    response = await login(client, "GRACE.hopper@example.com", PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["user"]["id"] == user["id"]


@pytest.mark.parametrize("second_email", ["taken@example.com", "Taken@EXAMPLE.com"])
async def test_a_taken_email_is_a_conflict(client: httpx.AsyncClient, second_email: str) -> None:
    await registered_user(client, email="taken@example.com")
    response = await register(client, email=second_email, role="clinician")
    assert response.status_code == 409
    assert response.json() == {
        "error": "EmailAlreadyRegistered",
        "detail": "an account with this email already exists",
    }


@pytest.mark.parametrize("password", ["short12", "x" * 129, ""])
async def test_password_outside_8_to_128_characters_is_refused(
    client: httpx.AsyncClient, password: str
) -> None:
    response = await register(client, password=password)
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "InvalidRequest"
    assert "password" in body["detail"]


async def test_passwords_of_exactly_8_and_128_characters_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    assert (await register(client, password="k7#vq2Lm")).status_code == 201
    assert (await register(client, password="p" * 128)).status_code == 201


@pytest.mark.parametrize(
    ("field", "value"),
    [("role", "admin"), ("role", "superuser"), ("email", "not-an-email"), ("display_name", " ")],
)
async def test_bad_registration_fields_are_refused_with_the_field_named(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    response = await register(client, **{field: value})
    assert response.status_code == 422
    assert field in response.json()["detail"]


async def test_unknown_email_and_wrong_password_get_identical_answers(
    client: httpx.AsyncClient,
) -> None:
    await registered_user(client, email="known@example.com")
    wrong_password = await login(client, "known@example.com", "not the password")
    unknown_email = await login(client, "unknown@example.com", "not the password")
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.json() == {
            "error": "InvalidCredentials",
            "detail": "email or password is incorrect",
        }
    assert wrong_password.content == unknown_email.content
    assert wrong_password.headers["www-authenticate"] == unknown_email.headers["www-authenticate"]


async def test_a_deactivated_account_cannot_log_in_or_use_its_tokens(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await registered_user(client, email="leaving@example.com")
    token = await access_token(client, "leaving@example.com")
    async with database.unit_of_work() as session:
        row = await session.get(User, uuid.UUID(user["id"]))
        assert row is not None
        row.is_active = False
        session.add(row)

    refused = await login(client, "leaving@example.com", PASSWORD)
    assert refused.status_code == 401
    assert refused.json()["error"] == "InvalidCredentials"
    me = await client.get("/v1/users/me", headers=bearer(token))
    assert me.status_code == 401
    assert me.json()["error"] == "AccountUnavailable"


async def test_access_token_verifies_with_the_served_jwks_and_has_every_claim(
    client: httpx.AsyncClient,
) -> None:
    user = await registered_user(client, email="claims@example.com", role="clinician")
    token = await access_token(client, "claims@example.com")

    header, _ = unverified_parts(token)
    assert header["alg"] == "EdDSA"
    keys = await served_keys(client)
    assert header["kid"] in keys
    claims = jwt.decode(
        token,
        keys[header["kid"]].key,
        algorithms=["EdDSA"],
        audience="rapport",
        issuer="rapport-identity",
    )
    assert set(claims) == {
        "iss", "aud", "sub", "iat", "nbf", "exp", "jti", "role", "scope", "fid"
    }  # fmt: skip
    assert claims["sub"] == user["id"]
    uuid.UUID(claims["fid"])  # the sign-in: a logout names it
    assert claims["role"] == "clinician"
    assert claims["scope"] == ""
    assert claims["exp"] - claims["iat"] == 900
    assert claims["nbf"] == claims["iat"]
    uuid.UUID(claims["jti"])

    # What every other service does: the shared verifier over the JWKS keys.
    verifier = TokenVerifier(StaticKeySource(keys), issuer="rapport-identity", audience="rapport")
    principal = await verifier.verify(token)
    assert principal.user_id == uuid.UUID(user["id"])
    assert principal.role == "clinician"


async def test_each_login_gets_a_distinct_token_id(client: httpx.AsyncClient) -> None:
    await registered_user(client, email="twice@example.com")
    first = unverified_parts(await access_token(client, "twice@example.com"))[1]
    second = unverified_parts(await access_token(client, "twice@example.com"))[1]
    assert first["jti"] != second["jti"]


async def test_signaling_token_is_for_signaling_and_one_session(
    client: httpx.AsyncClient,
) -> None:
    user = await registered_user(client, email="joiner@example.com")
    token = await access_token(client, "joiner@example.com")
    session_id = uuid.uuid4()

    response = await client.post(
        "/v1/signaling-tokens", json={"session_id": str(session_id)}, headers=bearer(token)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["expires_in"] == 300

    keys = await served_keys(client)
    signaling = TokenVerifier(
        StaticKeySource(keys), issuer="rapport-identity", audience="rapport-signaling"
    )
    principal = await signaling.verify(body["token"])
    assert principal.session_id == session_id
    assert principal.user_id == uuid.UUID(user["id"])
    assert principal.role == "client"
    claims = principal.claims
    assert claims["aud"] == "rapport-signaling"
    assert claims["sid"] == str(session_id)
    assert claims["exp"] - claims["iat"] == 300
    assert unverified_parts(body["token"])[0]["kid"] in keys

    # It is no access token: identity itself refuses it.
    me = await client.get("/v1/users/me", headers=bearer(body["token"]))
    assert me.status_code == 401


async def test_signaling_token_needs_an_access_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/signaling-tokens", json={"session_id": str(uuid.uuid4())})
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


async def test_signaling_token_needs_a_session_uuid(client: httpx.AsyncClient) -> None:
    await registered_user(client, email="typo@example.com")
    token = await access_token(client, "typo@example.com")
    response = await client.post(
        "/v1/signaling-tokens", json={"session_id": "room-1"}, headers=bearer(token)
    )
    assert response.status_code == 422
    assert "session_id" in response.json()["detail"]


async def test_me_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/users/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def _foreign_token(token: str) -> str:
    # A well-formed token from a key identity never had, even claiming identity's kid.
    _, claims = unverified_parts(token)
    impostor = TestTokenIssuer(kid=jwt.get_unverified_header(token)["kid"])
    return impostor.issue(claims["sub"], "admin")


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: with_claims(t, role="admin"), id="payload-edited"),
        pytest.param(lambda t: with_claims(t, sub=str(uuid.uuid4())), id="subject-swapped"),
        pytest.param(lambda t: t[:-4] + ("AAAA" if t[-4:] != "AAAA" else "BBBB"), id="signature"),
        pytest.param(lambda t: with_header(t, alg="none"), id="alg-none"),
        pytest.param(lambda t: with_header(t, kid="no-such-key"), id="unknown-kid"),
        pytest.param(lambda t: ".".join(t.split(".")[:2]) + ".", id="signature-stripped"),
        pytest.param(_foreign_token, id="foreign-key"),
    ],
)
async def test_a_tampered_token_is_refused(client: httpx.AsyncClient, tamper: object) -> None:
    await registered_user(client, email="victim@example.com")
    token = await access_token(client, "victim@example.com")
    assert (await client.get("/v1/users/me", headers=bearer(token))).status_code == 200

    assert callable(tamper)
    response = await client.get("/v1/users/me", headers=bearer(tamper(token)))
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


async def _outbox(database: Database) -> list[OutboxMessage]:
    async with database.unit_of_work() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return list(rows.all())


async def test_registration_queues_user_registered_in_the_outbox(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await registered_user(client, email="evented@example.com", role="clinician")

    rows = await _outbox(database)
    assert len(rows) == 1
    row = rows[0]
    assert row.topic == "rapport.identity"
    assert row.event_type == "rapport.identity.user.registered.v1"
    assert row.key == user["id"].encode()
    assert row.sent_at is None  # Kafka is unreachable in unit tests: the row waits
    envelope = decode(row.key, row.value, [(k, v.encode()) for k, v in row.headers])
    assert envelope.source == "/rapport/identity"
    assert envelope.id == row.event_id
    assert isinstance(envelope.payload, UserRegistered)
    assert envelope.payload.user_id == uuid.UUID(user["id"])
    assert envelope.payload.role == "clinician"
    # Ids and roles travel; personal details stay in identity.
    assert b"evented@example.com" not in row.value


async def test_failed_registrations_leave_no_outbox_row_and_no_user(
    client: httpx.AsyncClient, database: Database
) -> None:
    await registered_user(client, email="first@example.com")
    assert (await register(client, email="FIRST@example.com")).status_code == 409
    assert (await register(client, email="second@example.com", password="short")).status_code == 422
    assert (await register(client, email="third@example.com", role="admin")).status_code == 422

    assert len(await _outbox(database)) == 1
    async with database.unit_of_work() as session:
        emails = (await session.exec(select(User.email))).all()
    assert list(emails) == ["first@example.com"]


async def test_jwks_lists_the_signing_key_as_a_public_ed25519_jwk(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert "max-age" in response.headers["cache-control"]
    keys = response.json()["keys"]
    assert len(keys) == 1
    assert {k: keys[0][k] for k in ("kty", "crv", "alg", "use")} == {
        "kty": "OKP",
        "crv": "Ed25519",
        "alg": "EdDSA",
        "use": "sig",
    }
    assert "d" not in keys[0]  # the private part never leaves


async def test_readiness_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == "ok"
    # Kafka is unreachable, but within its grace period: ready, and saying so.
    assert checks["kafka"].startswith("degraded") or checks["kafka"] == "ok"
