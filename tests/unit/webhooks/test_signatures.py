"""Delivered requests verified with an independent implementation of Standard Webhooks.

The verifier below is written from the specification (HMAC-SHA256 over
``{webhook-id}.{webhook-timestamp}.{body}`` with the base64-decoded ``whsec_`` secret,
``v1,<base64>`` signatures separated by spaces), not with the service's signing code or the
``standardwebhooks`` library, so a shared mistake cannot make both sides agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import ReceivedRequest, Receiver, StartService, eventually
from tests.unit.webhooks.test_dispatcher import publish

TOLERANCE_SECONDS = 5 * 60


def spec_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    """The ``v1`` signature the specification defines, computed by hand."""
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret[len("whsec_") :])
    signed = message_id.encode() + b"." + timestamp.encode() + b"." + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signed_with(secret: str, request: ReceivedRequest) -> bool:
    """Whether ``request`` carries a valid v1 signature made with ``secret``, per the spec."""
    headers = request.headers
    timestamp = headers["webhook-timestamp"]
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = spec_signature(secret, headers["webhook-id"], timestamp, request.body)
    for candidate in headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(signature, expected):
            return True
    return False


def test_the_hand_written_verifier_rejects_what_it_should() -> None:
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    body = b'{"type":"x"}'
    now = str(int(time.time()))
    good = spec_signature(secret, "msg_1", now, body)

    def request(**headers: str) -> ReceivedRequest:
        base = {"webhook-id": "msg_1", "webhook-timestamp": now, "webhook-signature": f"v1,{good}"}
        return ReceivedRequest("p", {**base, **headers}, body, None)

    assert signed_with(secret, request())
    assert not signed_with(secret, request(**{"webhook-id": "msg_2"}))
    assert not signed_with(secret, request(**{"webhook-signature": f"v2,{good}"}))
    assert not signed_with(secret, request(**{"webhook-timestamp": str(int(now) - 3600)}))
    other = "whsec_" + base64.b64encode(b"j" * 32).decode()
    assert not signed_with(other, request())


async def test_every_attempt_is_signed_per_the_specification(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("partner"), ["session.*"])
    secret = endpoint["secret"]
    receiver.statuses["partner"] = [500]  # the first attempt fails; the retry succeeds

    await publish(webhooks, factories.session_completed())
    await eventually(lambda: _count(receiver, "partner", 2))

    first, retry = receiver.requests_to("partner")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert signed_with(secret, first) and signed_with(secret, retry)
    assert first.headers["webhook-id"] == retry.headers["webhook-id"]
    assert len(first.headers["webhook-signature"].split(" ")) == 1
    assert json.loads(first.body)["type"] == "session.completed"


async def test_both_secrets_sign_during_a_rotation_and_only_the_new_one_after(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("partner"), ["session.*"])
    old_secret = endpoint["secret"]
    path = f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret"

    rotated = await webhooks.http.post(
        path, json={"overlap_seconds": 3600}, headers=webhooks.auth()
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    await publish(webhooks, factories.session_completed())
    await eventually(lambda: _count(receiver, "partner", 1))

    during = receiver.requests_to("partner")[0]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert signed_with(old_secret, during)  # a receiver not yet switched over accepts it
    assert signed_with(new_secret, during)  # and so does one already switched

    again = await webhooks.http.post(path, json={"overlap_seconds": 0}, headers=webhooks.auth())
    newest = again.json()["secret"]
    await publish(webhooks, factories.session_completed())
    await eventually(lambda: _count(receiver, "partner", 2))

    after = receiver.requests_to("partner")[1]
    assert signed_with(newest, after)
    assert not signed_with(new_secret, after)
    assert not signed_with(old_secret, after)


async def _count(receiver: Receiver, path: str, n: int) -> bool:
    return len(receiver.requests_to(path)) >= n
