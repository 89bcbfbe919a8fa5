"""Guest links: a clinician's one-time link for a guest without an account, redeemed once for
a guest token of one session; links expire and can be revoked, each refusal a clear 4xx."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta
from typing import Any

import httpx
import jwt
from sqlmodel import col, select

from services.identity.models import GuestLink
from shared.db import Database, utc_now
from shared.events.catalog import SessionGuestInvited, SessionGuestRevoked
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from tests.unit.identity.factories import access_token, bearer, registered_user, served_keys


async def _clinician(client: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, str]]:
    email = f"dr-{uuid.uuid4().hex[:8]}@example.com"
    user = await registered_user(client, email=email, role="clinician", display_name="Dr. Lee")
    return user, bearer(await access_token(client, email))


async def _invite(
    client: httpx.AsyncClient, headers: dict[str, str], session_id: uuid.UUID
) -> dict[str, Any]:
    response = await client.post(
        "/v1/guest-links",
        json={"session_id": str(session_id), "relationship": "interpreter"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    issued: dict[str, Any] = response.json()
    return issued


async def _redeem(client: httpx.AsyncClient, link_token: str) -> httpx.Response:
    return await client.post("/v1/guest-tokens", json={"link_token": link_token})


async def _outbox(database: Database) -> list[tuple[bytes | None, Any]]:
    async with database.unit_of_work() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return [
        (row.key, decode(row.key, row.value, [(k, v.encode()) for k, v in row.headers]).payload)
        for row in rows
    ]


async def test_a_link_is_redeemed_once_for_a_guest_token_of_its_session(
    client: httpx.AsyncClient, database: Database
) -> None:
    clinician, headers = await _clinician(client)
    session_id = uuid.uuid4()
    issued = await _invite(client, headers, session_id)
    assert issued["status"] == "pending" and issued["relationship"] == "interpreter"
    guest_id = issued["guest_id"]

    # Stored hashed; the event names the guest, the session and the relationship, never the link.
    async with database.unit_of_work() as session:
        [stored] = (await session.exec(select(GuestLink))).all()
    assert stored.token_hash == hashlib.sha256(issued["link_token"].encode()).hexdigest()
    [(key, invited)] = [
        (k, p) for k, p in await _outbox(database) if isinstance(p, SessionGuestInvited)
    ]
    assert key == str(session_id).encode()
    assert (invited.guest_id, invited.session_id, invited.clinician_id) == (
        uuid.UUID(guest_id),
        session_id,
        uuid.UUID(clinician["id"]),
    )
    assert invited.relationship == "interpreter"
    assert issued["link_token"] not in invited.model_dump_json()

    redeemed = await _redeem(client, issued["link_token"])
    assert redeemed.status_code == 200, redeemed.text
    body = redeemed.json()
    assert (body["guest_id"], body["session_id"]) == (guest_id, str(session_id))
    header = jwt.get_unverified_header(body["token"])
    key_of_token = (await served_keys(client))[header["kid"]]
    claims = jwt.decode(
        body["token"], key_of_token.key, algorithms=["EdDSA"], audience="rapport-signaling"
    )
    assert (claims["role"], claims["sub"], claims["sid"]) == ("guest", guest_id, str(session_id))
    assert set(claims["aud"]) == {"rapport", "rapport-signaling"}
    assert claims["exp"] - claims["iat"] <= 900

    again = await _redeem(client, issued["link_token"])
    assert again.status_code == 410
    assert again.json()["error"] == "GuestLinkUsed"
    assert "already used" in again.json()["detail"]


async def test_an_expired_link_is_refused(client: httpx.AsyncClient, database: Database) -> None:
    _, headers = await _clinician(client)
    issued = await _invite(client, headers, uuid.uuid4())
    async with database.unit_of_work() as session:
        link = (await session.exec(select(GuestLink))).one()
        link.expires_at = utc_now() - timedelta(seconds=1)
        session.add(link)

    refused = await _redeem(client, issued["link_token"])
    assert refused.status_code == 410
    assert refused.json()["error"] == "GuestLinkExpired"
    listed = await client.get(
        "/v1/guest-links", params={"session_id": issued["session_id"]}, headers=headers
    )
    assert [link["status"] for link in listed.json()] == ["expired"]


async def test_a_revoked_link_is_refused_and_the_revocation_is_an_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    _, headers = await _clinician(client)
    _, other_headers = await _clinician(client)
    session_id = uuid.uuid4()
    issued = await _invite(client, headers, session_id)
    guest_id = issued["guest_id"]

    # Only the clinician who issued it may revoke it.
    foreign = await client.delete(f"/v1/guest-links/{guest_id}", headers=other_headers)
    assert foreign.status_code == 404
    revoked = await client.delete(f"/v1/guest-links/{guest_id}", headers=headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    assert (await client.delete(f"/v1/guest-links/{guest_id}", headers=headers)).status_code == 200

    refused = await _redeem(client, issued["link_token"])
    assert refused.status_code == 410
    assert refused.json()["error"] == "GuestLinkRevoked"
    revocations = [(k, p) for k, p in await _outbox(database) if isinstance(p, SessionGuestRevoked)]
    assert [(k, p.guest_id, p.session_id) for k, p in revocations] == [
        (str(session_id).encode(), uuid.UUID(guest_id), session_id)
    ]


async def test_a_redeemed_guest_revoked_later_is_revoked(client: httpx.AsyncClient) -> None:
    _, headers = await _clinician(client)
    issued = await _invite(client, headers, uuid.uuid4())
    assert (await _redeem(client, issued["link_token"])).status_code == 200
    revoked = await client.delete(f"/v1/guest-links/{issued['guest_id']}", headers=headers)
    assert revoked.json()["status"] == "revoked"
    assert revoked.json()["redeemed_at"] is not None


async def test_bad_requests_get_clear_errors(client: httpx.AsyncClient) -> None:
    _, headers = await _clinician(client)
    unknown = await _redeem(client, "not-a-link")
    assert unknown.status_code == 404 and unknown.json()["error"] == "GuestLinkNotFound"
    free_text = await client.post(
        "/v1/guest-links",
        json={"session_id": str(uuid.uuid4()), "relationship": "my cousin Ana"},
        headers=headers,
    )
    assert free_text.status_code == 422
    assert free_text.json()["problems"]
    empty = await client.post("/v1/guest-tokens", json={"link_token": ""})
    assert empty.status_code == 422

    email = f"client-{uuid.uuid4().hex[:8]}@example.com"
    await registered_user(client, email=email)
    by_client = await client.post(
        "/v1/guest-links",
        json={"session_id": str(uuid.uuid4()), "relationship": "family-member"},
        headers=bearer(await access_token(client, email)),
    )
    assert by_client.status_code == 403


async def test_a_guest_token_is_refused_on_identitys_routes(client: httpx.AsyncClient) -> None:
    _, headers = await _clinician(client)
    session_id = uuid.uuid4()
    issued = await _invite(client, headers, session_id)
    guest = bearer((await _redeem(client, issued["link_token"])).json()["token"])

    for method, path, body in [
        ("GET", "/v1/users/me", None),
        ("GET", "/v1/users", None),
        ("POST", "/v1/signaling-tokens", {"session_id": str(session_id)}),
        ("POST", "/v1/guest-links", {"session_id": str(session_id), "relationship": "other"}),
        ("GET", "/v1/invitations", None),
    ]:
        response = await client.request(method, path, json=body, headers=guest)
        assert response.status_code == 403, (path, response.text)
        assert "guest" in response.json()["detail"]


async def test_concurrent_redemptions_of_one_link_get_one_token(
    client: httpx.AsyncClient, database: Database
) -> None:
    # A link forwarded to two people, opened at once: exactly one gets in.
    _, headers = await _clinician(client)
    issued = await _invite(client, headers, uuid.uuid4())
    answers = await asyncio.gather(*(_redeem(client, issued["link_token"]) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [410] * 7
