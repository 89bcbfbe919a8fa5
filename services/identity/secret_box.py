"""Secrets at rest: AES-256-GCM sealing of the values identity must be able to read back.

TOTP secrets and the private signing keys cannot be hashed (identity computes codes and
signatures with them), so they are stored encrypted under the operator's key
(``RAPPORT_IDENTITY_SECRETS_KEY``). Each sealed value is bound to its row (the associated
data names the column and the row's id), so a ciphertext copied onto another row does not
open. The stored form is ``aesgcm:v1:`` + base64url(12-byte nonce || ciphertext || tag).
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX: Final = "aesgcm:v1:"
KEY_BYTES: Final = 32
_NONCE_BYTES: Final = 12


class SecretUnreadable(Exception):
    """A sealed value that does not open: a wrong key, a tampered value, or another row's."""


def totp_context(user_id: object) -> str:
    """What a user's TOTP secret is bound to."""
    return f"users.totp_secret:{user_id}"


def signing_key_context(kid: str) -> str:
    """What a signing key's private half is bound to."""
    return f"signing_keys.private_key_pem:{kid}"


def reset_token_context(reset_id: object) -> str:
    """What a password reset's token is bound to, until it is used."""
    return f"password_resets.sealed_token:{reset_id}"


def invitation_token_context(invitation_id: object) -> str:
    """What an invitation's token is bound to, until it is accepted."""
    return f"invitations.sealed_token:{invitation_id}"


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
