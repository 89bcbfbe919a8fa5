"""The JWKS document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class PublicJwk(BaseModel):
    """An Ed25519 public key in JWK form (RFC 8037)."""

    model_config = ConfigDict(extra="allow")

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class Jwks(BaseModel):
    keys: list[PublicJwk]
