"""Secrets at rest: AES-256-GCM sealing of the values a service must be able to read back.

Some secrets cannot be hashed because the service computes with them (identity's TOTP secrets
and token signing keys, webhooks' Ed25519 signing keys), so they are stored encrypted under
the operator's key. Each sealed value is bound to its row (the associated data names the
column and the row's id), so a ciphertext copied onto another row does not open. The stored
form is ``aesgcm:v1:`` + base64url(12-byte nonce || ciphertext || tag).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

PREFIX: Final = "aesgcm:v1:"
KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


class SecretUnreadable(Exception):
    """A sealed value that does not open: a wrong key, a tampered value, or another row's."""


def decode_key(encoded: str) -> bytes:
    """An operator's secrets key (base64 of 32 random bytes) as bytes, or ``ValueError``."""
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except binascii.Error as exc:
        raise ValueError("the secrets key must be base64") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"the secrets key must be {KEY_BYTES} bytes, not {len(key)}")
    return key


class MissingSecretsKey(RuntimeError):
    """Production without the service's secrets key: the service refuses to start."""


def check_secrets_key(value: SecretStr | None) -> SecretStr | None:
    """A settings validator: an operator's secrets key, if set, must be base64 of 32 bytes."""
    if value is not None:
        decode_key(value.get_secret_value())
    return value


def operator_key(
    configured: SecretStr | None, *, environment: str, variable: str, development_key: bytes
) -> bytes:
    """The key that seals a service's secrets: the operator's, or in development and test the
    service's public ``development_key``; :class:`MissingSecretsKey` in production without one."""
    if configured is not None:
        return decode_key(configured.get_secret_value())
    if environment == "production":
        raise MissingSecretsKey(
            f"{variable} is required in production (base64 of {KEY_BYTES} random bytes)"
        )
    return development_key


def is_sealed(value: str) -> bool:
    """Whether ``value`` is in the sealed form (rather than a legacy plaintext)."""
    return value.startswith(PREFIX)


class SecretBox:
    """Seals and opens short secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the secrets key must be {KEY_BYTES} bytes, not {len(key)}")
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, *, context: str) -> str:
        """The stored form of ``plaintext``, bound to ``context``; a fresh nonce every time."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), context.encode("utf-8"))
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, stored: str, *, context: str) -> str:
        """The plaintext of a sealed value, or :class:`SecretUnreadable`."""
        if not is_sealed(stored):
            raise SecretUnreadable("the value is not sealed")
        try:
            raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            opened = self._aead.decrypt(nonce, sealed, context.encode("utf-8"))
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise SecretUnreadable("the sealed value does not open with this key") from exc
        return opened.decode("utf-8")
