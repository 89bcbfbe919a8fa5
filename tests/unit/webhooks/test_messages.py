"""Secrets, message ids, the thin body and its Standard Webhooks signature."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from services.webhooks.messages import (
    encode_body,
    new_message_id,
    new_secret,
    signed_headers,
    webhook_message,
)
from tests.unit.webhooks import factories


def test_secrets_are_32_random_bytes_in_the_whsec_format() -> None:
    secret = new_secret()

    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_secret() != secret


def test_message_ids_are_prefixed_and_unique() -> None:
    ids = {new_message_id() for _ in range(100)}

    assert len(ids) == 100
    assert all(i.startswith("msg_") and len(i) <= 40 for i in ids)


def test_signed_headers_verify_with_the_standard_webhooks_library() -> None:
    secret = new_secret()
    body = encode_body(
        webhook_message(factories.goal_updated(), datetime.now(UTC), aggregate_id="a", sequence=1)
    )

    headers = signed_headers([secret], "msg_1", datetime.now(UTC), body)

    assert json.loads(body) == Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("7", "8"), headers)


def test_the_message_is_the_thin_standard_webhooks_shape() -> None:
    payload = factories.appointment_scheduled()
    occurred_at = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)

    message = webhook_message(
        payload, occurred_at, aggregate_id=payload.partition_key(), sequence=3
    )

    assert message == {
        "type": "appointment.scheduled",
        "timestamp": "2025-03-04T05:06:07.890000Z",
        "aggregate_id": str(payload.session_id),
        "sequence": 3,
        "data": payload.data(),
    }
