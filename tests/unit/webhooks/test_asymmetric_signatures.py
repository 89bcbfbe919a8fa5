"""Standard Webhooks' asymmetric signatures ("v1a", Ed25519), checked by an independent library.

The reference ``standardwebhooks`` library verifies only ``v1`` (HMAC), so ``v1a`` is checked
with PyNaCl (libsodium), not with ``cryptography`` that the service signs with: the public key
the partner is given (``whpk_`` + base64 of the 32 raw bytes) must verify
``{webhook-id}.{webhook-timestamp}.{body}`` on its own.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey
from sqlmodel import select
from standardwebhooks import Webhook, WebhookVerificationError

from services.webhooks.messages import signing_key_context
from services.webhooks.models import WebhookEndpoint
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import (
    ReceivedRequest,
    Receiver,
    RunningService,
    StartService,
    eventually,
)
from tests.unit.webhooks.test_dispatcher import publish


def v1a_signatures(request: ReceivedRequest) -> list[bytes]:
    return [
        base64.b64decode(candidate.partition(",")[2])
        for candidate in request.headers["webhook-signature"].split(" ")
        if candidate.partition(",")[0] == "v1a"
    ]


def verifies(public_key: str, request: ReceivedRequest) -> bool:
    """Whether any v1a signature on ``request`` verifies with the published ``whpk_`` key."""
    assert public_key.startswith("whpk_")
    key = VerifyKey(base64.b64decode(public_key.removeprefix("whpk_")))
    signed = (
        request.headers["webhook-id"].encode()
        + b"."
        + request.headers["webhook-timestamp"].encode()
        + b"."
        + request.body
    )
    for signature in v1a_signatures(request):
        try:
            key.verify(signed, signature)
            return True
        except BadSignatureError:
            continue
    return False


async def register(
    webhooks: RunningService, url: str, schemes: list[str], **extra: Any
) -> dict[str, Any]:
    response = await webhooks.http.post(
        "/v1/webhook-endpoints",
        json={"url": url, "event_types": ["*"], "signature_schemes": schemes, **extra},
        headers=webhooks.auth(),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def arrived(receiver: Receiver, path: str, count: int) -> list[ReceivedRequest]:
    async def enough() -> bool:
        return len(receiver.requests_to(path)) >= count

    await eventually(enough)
    return receiver.requests_to(path)


async def test_v1a_beside_v1_each_verified_by_its_own_library(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await register(webhooks, receiver.url("both"), ["v1", "v1a"])

    await publish(webhooks, factories.session_completed())
    (request,) = await arrived(receiver, "both", 1)

    assert endpoint["signature_schemes"] == ["v1", "v1a"]
    assert len(base64.b64decode(endpoint["public_key"].removeprefix("whpk_"))) == 32
    assert verifies(endpoint["public_key"], request)
    assert Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert len(v1a_signatures(request)) == 1
    # Tampering with the body, the id or the timestamp breaks the v1a signature.
    for tampered in (
        ReceivedRequest("x", request.headers, request.body.replace(b"}", b" }", 1), None),
        ReceivedRequest("x", {**request.headers, "webhook-id": "msg_other"}, request.body, None),
        ReceivedRequest(
            "x",
            {
                **request.headers,
                "webhook-timestamp": str(int(request.headers["webhook-timestamp"]) + 1),
            },
            request.body,
            None,
        ),
    ):
        assert not verifies(endpoint["public_key"], tampered)


async def test_a_v1a_only_endpoint_carries_no_hmac_signature(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await register(webhooks, receiver.url("asym"), ["v1a"])

    await publish(webhooks, factories.session_completed())
    (request,) = await arrived(receiver, "asym", 1)

    assert verifies(endpoint["public_key"], request)
    assert [s.partition(",")[0] for s in request.headers["webhook-signature"].split(" ")] == ["v1a"]
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(request.body, request.headers)


async def test_the_private_key_is_stored_sealed_and_bound_to_its_endpoint(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(background=False)
    endpoint = await register(webhooks, receiver.url("sealed"), ["v1a"])

    async with webhooks.database.unit_of_work() as session:
        row = (
            await session.exec(
                select(WebhookEndpoint).where(WebhookEndpoint.id == uuid.UUID(endpoint["id"]))
            )
        ).one()
    box = webhooks.app.state.secret_box

    assert row.signing_key is not None and row.signing_key.startswith("aesgcm:v1:")
    assert "whsk_" not in row.signing_key
    private = box.open(row.signing_key, context=signing_key_context(row.id, row.public_key))
    assert private.startswith("whsk_") and len(base64.b64decode(private[5:])) == 32
    # The view publishes the public half only.
    shown = json.dumps(endpoint)
    assert private not in shown and row.signing_key not in shown
    with pytest.raises(Exception, match="does not open"):
        box.open(row.signing_key, context=signing_key_context(uuid.uuid4(), row.public_key))


async def test_rotation_signs_with_both_keys_during_the_overlap_then_the_new_one_only(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await register(webhooks, receiver.url("rotating"), ["v1a"])
    path = f"/v1/webhook-endpoints/{endpoint['id']}"
    old_key = endpoint["public_key"]

    rotated = await webhooks.http.post(
        f"{path}/rotate-signing-key", json={"overlap_seconds": 3600}, headers=webhooks.auth()
    )
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["public_key"]
    await publish(webhooks, factories.session_completed())
    (during,) = await arrived(receiver, "rotating", 1)

    assert new_key != old_key and rotated.json()["previous_public_key"] == old_key
    assert rotated.json()["previous_public_key_expires_at"] is not None
    assert len(v1a_signatures(during)) == 2
    assert verifies(old_key, during) and verifies(new_key, during)

    ended = await webhooks.http.post(
        f"{path}/rotate-signing-key", json={"overlap_seconds": 0}, headers=webhooks.auth()
    )
    newest_key = ended.json()["public_key"]
    await publish(webhooks, factories.session_completed())
    _, after = await arrived(receiver, "rotating", 2)

    assert len(v1a_signatures(after)) == 1
    assert verifies(newest_key, after)
    assert not verifies(new_key, after) and not verifies(old_key, after)


async def test_v1a_can_be_offered_later_and_rotation_needs_it(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(background=False)
    endpoint = await register(webhooks, receiver.url("later"), ["v1"])
    path = f"/v1/webhook-endpoints/{endpoint['id']}"

    refused = await webhooks.http.post(f"{path}/rotate-signing-key", headers=webhooks.auth())
    assert endpoint["public_key"] is None
    assert refused.status_code == 409, refused.text
    assert "v1a" in refused.json()["detail"]

    patched = await webhooks.http.patch(
        path, json={"signature_schemes": ["v1", "v1a"]}, headers=webhooks.auth()
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["public_key"].startswith("whpk_")

    unknown = await webhooks.http.patch(
        path, json={"signature_schemes": ["v2"]}, headers=webhooks.auth()
    )
    assert unknown.status_code == 422
    empty = await webhooks.http.patch(path, json={"signature_schemes": []}, headers=webhooks.auth())
    assert empty.status_code == 422
