"""The key one service presents to another on an internal call (notifications to identity).

Internal endpoints live under ``/internal/`` and are never routed by the gateway; the caller
sends ``Authorization: Bearer <key>`` (``RAPPORT_NOTIFICATIONS_IDENTITY_KEY``) and the callee
compares it in constant time with its own copy (``RAPPORT_IDENTITY_NOTIFICATIONS_KEY``).
Development and test fall back to a public key; production refuses to use one it was not given.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from pydantic import SecretStr

from shared.errors import ServiceUnavailable, Unauthorized

# Anyone can derive this from the source: for development and tests only.
DEVELOPMENT_SERVICE_KEY: Final = hashlib.sha256(
    b"rapport: development-only internal service key (public, never for production)"
).hexdigest()
# Short keys are guessable; 32 characters is a 128-bit random key in hex.
MIN_KEY_LENGTH: Final = 32


def service_key(configured: SecretStr | None, environment: str) -> str | None:
    """The key in force: the configured one, the development one outside production, or None
    (production without a key: internal calls are refused rather than open)."""
    if configured is not None:
        return configured.get_secret_value()
    return None if environment == "production" else DEVELOPMENT_SERVICE_KEY


def check_key_length(value: SecretStr | None) -> SecretStr | None:
    """Settings validator: a configured key is long enough to be a random key."""
    if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
        raise ValueError(f"the service key must be at least {MIN_KEY_LENGTH} characters")
    return value


def verify_bearer(authorization: str | None, expected: str | None) -> None:
    """Raise unless ``authorization`` is ``Bearer <expected>`` (constant-time comparison)."""
    if expected is None:
        raise ServiceUnavailable("no internal service key is configured")
    scheme, _, presented = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    ):
        raise Unauthorized("a valid internal service key is required")
