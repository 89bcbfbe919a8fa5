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

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from standardwebhooks import Webhook

from services.webhooks.subscriptions import TEST_EVENT_TYPE, short_name
from shared.events.catalog import Payload

SECRET_PREFIX = "whsec_"  # noqa: S105  (a format prefix, not a secret)
# Standard Webhooks' serialisation of an Ed25519 key pair ("v1a"): base64 of the raw 32-byte
# private key (RFC 8032's seed) after whsk_, of the raw 32-byte public key after whpk_.
SIGNING_KEY_PREFIX = "whsk_"
PUBLIC_KEY_PREFIX = "whpk_"
MESSAGE_ID_PREFIX = "msg_"


def new_secret() -> str:
    """A signing secret as the standardwebhooks library expects: whsec_ + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_signing_key() -> tuple[str, str]:
    """A fresh Ed25519 key pair for "v1a" signatures: (``whsk_...``, ``whpk_...``)."""
    private_key = Ed25519PrivateKey.generate()
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return (
        SIGNING_KEY_PREFIX + base64.b64encode(private_key.private_bytes_raw()).decode(),
        PUBLIC_KEY_PREFIX + base64.b64encode(public).decode(),
    )


def signing_key_context(endpoint_id: uuid.UUID, public_key: str) -> str:
    """What an endpoint's sealed private key is bound to: the endpoint and its public half."""
    return f"webhook_endpoints.signing_key:{endpoint_id}:{public_key}"


def _ed25519_signature(signing_key: str, to_sign: bytes) -> str:
    raw = base64.b64decode(signing_key.removeprefix(SIGNING_KEY_PREFIX))
    signature = Ed25519PrivateKey.from_private_bytes(raw).sign(to_sign)
    return "v1a," + base64.b64encode(signature).decode()


def new_message_id() -> str:
    """The ``webhook-id`` of a delivery: stable across its retries so receivers can dedupe."""
    return MESSAGE_ID_PREFIX + uuid.uuid4().hex


def iso_timestamp(moment: datetime) -> str:
    """``2025-01-31T09:30:00.123456Z``: UTC, ISO 8601."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def webhook_message(
    payload: Payload, occurred_at: datetime, *, aggregate_id: str, sequence: int
) -> dict[str, Any]:
    """The message body one endpoint receives for ``payload``: the ``sequence``-th message
    about the aggregate ``aggregate_id`` to that endpoint."""
    return {
        "type": short_name(payload.type),
        "timestamp": iso_timestamp(occurred_at),
        "aggregate_id": aggregate_id,
        "sequence": sequence,
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
    secrets: Sequence[str],
    message_id: str,
    sent_at: datetime,
    body: str,
    *,
    signing_keys: Sequence[str] = (),
) -> dict[str, str]:
    """The headers of one attempt; the timestamp is the attempt's, the id the delivery's.

    Signed once per HMAC secret ("v1") and once per Ed25519 private key ("v1a"), signatures
    space-separated (during a rotation both the new and the old secret or key sign, so a
    receiver holding either accepts the message).
    """
    sent_at = sent_at.astimezone(UTC)
    signatures = [Webhook(s).sign(message_id, sent_at, body) for s in secrets]
    if signing_keys:
        to_sign = f"{message_id}.{int(sent_at.timestamp())}.{body}".encode()
        signatures += [_ed25519_signature(key, to_sign) for key in signing_keys]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
    }
