"""One-link unsubscribe: a token that names a person and is signed with the service's key.

The token only stops reminders (security notices always go), so it is a plain HMAC of the
user id rather than a stored secret; it does not expire, as RFC 8058 links should keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid

_PURPOSE = b"rapport.notifications.unsubscribe.v1:"


class InvalidUnsubscribeToken(ValueError):
    """A token that is malformed or not signed with this key."""


def _mac(key: bytes, user_id: uuid.UUID) -> bytes:
    return hmac.new(key, _PURPOSE + user_id.bytes, hashlib.sha256).digest()


def issue(key: bytes, user_id: uuid.UUID) -> str:
    """The token for ``user_id``'s unsubscribe link (URL-safe)."""
    raw = user_id.bytes + _mac(key, user_id)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def verify(key: bytes, token: str) -> uuid.UUID:
    """The user a token names, or :class:`InvalidUnsubscribeToken`."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidUnsubscribeToken("malformed token") from exc
    if len(raw) != 16 + 32:
        raise InvalidUnsubscribeToken("malformed token")
    user_id = uuid.UUID(bytes=raw[:16])
    if not hmac.compare_digest(raw[16:], _mac(key, user_id)):
        raise InvalidUnsubscribeToken("token does not verify")
    return user_id
