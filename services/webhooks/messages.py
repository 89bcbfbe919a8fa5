"""What partners receive: thin Standard Webhooks messages, and how each attempt is signed.

The body is ``{"type", "timestamp", "data"}`` where ``data`` is the catalog payload's data:
ids, times and statuses. Clinical free text never reaches a partner (the catalog carries none,
and nothing is added here).
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from services.webhooks.subscriptions import TEST_EVENT_TYPE, short_name
from shared.events.catalog import Payload

SECRET_PREFIX = "whsec_"  # noqa: S105  (a format prefix, not a secret)
MESSAGE_ID_PREFIX = "msg_"


def new_secret() -> str:
    """A signing secret as the standardwebhooks library expects: whsec_ + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    """The ``webhook-id`` of a delivery: stable across its retries so receivers can dedupe."""
    return MESSAGE_ID_PREFIX + uuid.uuid4().hex


def iso_timestamp(moment: datetime) -> str:
    """``2025-01-31T09:30:00.123456Z``: UTC, ISO 8601."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhook_message(payload: Payload, occurred_at: datetime) -> dict[str, Any]:
    """The message body partners receive for ``payload``."""
    return {
        "type": short_name(payload.type),
        "timestamp": iso_timestamp(occurred_at),
        "data": payload.data(),
    }


def test_message(endpoint_id: uuid.UUID, sent_at: datetime) -> dict[str, Any]:
    """The body of a "send test event" message."""
    return {
        "type": short_name(TEST_EVENT_TYPE),
        "timestamp": iso_timestamp(sent_at),
        "data": {"endpoint_id": str(endpoint_id)},
    }


def encode_body(message: dict[str, Any]) -> str:
    """The exact text sent (and signed)."""
    return json.dumps(message, separators=(",", ":"))


def signed_headers(
    secrets: Sequence[str], message_id: str, sent_at: datetime, body: str
) -> dict[str, str]:
    """The headers of one attempt; the timestamp is the attempt's, the id the delivery's.

    Signed once per secret, signatures space-separated (during a rotation both the new and the
    old secret sign, so a receiver holding either accepts the message).
    """
    signatures = [Webhook(s).sign(message_id, sent_at.astimezone(UTC), body) for s in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
