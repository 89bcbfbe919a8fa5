"""TOTP (RFC 6238) second factor and its one-time recovery codes.

Codes are 6 digits over 30-second steps, accepted one step either side for clock drift. The
step of the last accepted code is remembered, so a code (or an earlier one) cannot be replayed
within its window. Recovery codes are random, shown once, and stored only as SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Final

import pyotp

ISSUER_NAME: Final = "Rapport"
RECOVERY_CODE_COUNT: Final = 10
_DRIFT_STEPS: Final = 1


def new_secret() -> str:
    """A fresh base32 TOTP secret (160 bits, as RFC 4226 recommends)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account_name: str) -> str:
    """The ``otpauth://`` URI an authenticator app scans."""
    return pyotp.TOTP(secret).provisioning_uri(name=account_name, issuer_name=ISSUER_NAME)


def matching_step(
    secret: str, code: str, *, after_step: int | None, now: float | None = None
) -> int | None:
    """The time step ``code`` is valid for (within the drift window, later than
    ``after_step``), or None."""
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    current = totp.timecode(moment)
    for offset in range(-_DRIFT_STEPS, _DRIFT_STEPS + 1):
        step = current + offset
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code.strip()):
            return step
    return None


def new_recovery_codes() -> list[str]:
    """Ten one-time recovery codes, ``xxxxx-xxxxx`` (50 random bits each)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return [
        "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(2))
        for _ in range(RECOVERY_CODE_COUNT)
    ]


def hash_recovery_code(code: str) -> str:
    """The stored form of a recovery code (case and surrounding blanks ignored)."""
    return hashlib.sha256(code.strip().lower().encode("utf-8")).hexdigest()
