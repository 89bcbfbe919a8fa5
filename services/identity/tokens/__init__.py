"""Tokens: signing identity's JWTs (claims built once), refresh token families, signing keys."""

from services.identity.tokens.rules import hash_opaque_token, new_opaque_token
from services.identity.tokens.service import (
    IssuedRefreshToken,
    IssuedToken,
    KeyRotation,
    RefreshRefused,
    TokenPair,
    TokenPolicy,
    Tokens,
)
from services.identity.tokens.signing_keys import ALGORITHM, Keyring, jwk_thumbprint

__all__ = [
    "ALGORITHM",
    "IssuedRefreshToken",
    "IssuedToken",
    "KeyRotation",
    "Keyring",
    "RefreshRefused",
    "TokenPair",
    "TokenPolicy",
    "Tokens",
    "hash_opaque_token",
    "jwk_thumbprint",
    "new_opaque_token",
]
