"""Identity's secrets at rest: what each sealed value is bound to.

TOTP secrets and the private signing keys cannot be hashed (identity computes codes and
signatures with them), so they are sealed (:mod:`shared.secret_box`, AES-256-GCM) under the
operator's key (``RAPPORT_IDENTITY_SECRETS_KEY``), each bound to its row.
"""

from __future__ import annotations

from shared.secret_box import KEY_BYTES, PREFIX, SecretBox, SecretUnreadable, is_sealed

__all__ = [
    "KEY_BYTES",
    "PREFIX",
    "SecretBox",
    "SecretUnreadable",
    "invitation_token_context",
    "is_sealed",
    "reset_token_context",
    "signing_key_context",
    "totp_context",
]


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
