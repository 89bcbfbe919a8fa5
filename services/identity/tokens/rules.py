"""What identity's tokens say, built in one place, and the stored form of opaque tokens."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any


def new_opaque_token() -> str:
    """A fresh opaque token (256 random bits), shown to its holder once."""
    return secrets.token_urlsafe(32)


def hash_opaque_token(token: str) -> str:
    """The stored form of an opaque token: refresh, invitation and reset tokens, and partner
    apps' client secrets. Unsalted on purpose: the tokens are random, and the digest is what
    they are looked up by."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def claims(
    *,
    issuer: str,
    audience: str | list[str],
    subject: str,
    role: str,
    scope: str,
    issued_at: int,
    ttl_seconds: int,
    token_id: str,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims of every token identity signs: users' access and signaling tokens and
    partner apps' client-credential tokens differ only in subject, role, scope and extras."""
    return {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": issued_at + ttl_seconds,
        "jti": token_id,
        "role": role,
        "scope": scope,
        **(extra or {}),
    }
