"""Tokens for tests: a real Ed25519 key pair signing real JWTs, like identity does.

Services accept a ``key_source`` in ``create_app`` so tests verify these tokens with the
production verifier, without an identity process.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.tokens import StaticKeySource


class TestTokenIssuer:
    __test__ = False  # not a test class, despite the name

    def __init__(self, *, issuer: str = "rapport-identity", kid: str = "test-key-1") -> None:
        self.issuer = issuer
        self.kid = kid
        self.private_key = Ed25519PrivateKey.generate()
        public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        public_jwk.update(kid=kid, alg="EdDSA", use="sig")
        self.jwks: dict[str, Any] = {"keys": [public_jwk]}
        self.key_source = StaticKeySource({kid: jwt.PyJWK(public_jwk)})

    def issue(
        self,
        subject: uuid.UUID | str,
        role: str,
        *,
        scopes: str = "",
        audience: str | list[str] = "rapport",
        session_id: uuid.UUID | None = None,
        lifetime: int = 900,
        **extra: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "sub": str(subject),
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "jti": str(uuid.uuid4()),
            "role": role,
            "scope": scopes,
            **extra,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        return jwt.encode(claims, self.private_key, algorithm="EdDSA", headers={"kid": self.kid})

    def guest(self, guest_id: uuid.UUID, session_id: uuid.UUID) -> str:
        """A guest token as identity issues it for a redeemed guest link."""
        return self.issue(
            guest_id, "guest", audience=["rapport", "rapport-signaling"], session_id=session_id
        )

    def signaling(self, subject: uuid.UUID, role: str, session_id: uuid.UUID) -> str:
        return self.issue(
            subject, role, audience="rapport-signaling", session_id=session_id, lifetime=300
        )
