"""A SMART backend-services client as a partner would write it: keys and client assertions
made with joserfc, a JOSE library independent of the PyJWT that identity verifies with."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass
class SmartClient:
    """One partner's signing key and the assertions it makes."""

    algorithm: str = "RS384"
    kid: str = field(default_factory=lambda: f"key-{uuid.uuid4().hex[:8]}")
    key: RSAKey | ECKey = field(init=False)

    def __post_init__(self) -> None:
        parameters = {"kid": self.kid, "use": "sig", "alg": self.algorithm}
        if self.algorithm == "RS384":
            self.key = RSAKey.generate_key(2048, parameters=parameters, private=True)
        else:
            self.key = ECKey.generate_key("P-384", parameters=parameters, private=True)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS the partner registers."""
        return {"keys": [self.key.as_dict(private=False)]}

    def assertion(
        self,
        client_id: str,
        token_url: str,
        *,
        lifetime: int = 240,
        jti: str | None = None,
        **changes: Any,
    ) -> str:
        """A signed client assertion; ``changes`` override claims (None drops one)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "exp": now + lifetime,
            "jti": jti or uuid.uuid4().hex,
        }
        claims.update(changes)
        claims = {name: value for name, value in claims.items() if value is not None}
        header = {"alg": self.algorithm, "kid": self.kid, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, algorithms=[self.algorithm])


def assertion_form(assertion: str, scope: str | None = None) -> dict[str, str]:
    """The token request's form fields."""
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }
    if scope is not None:
        form["scope"] = scope
    return form
