"""Ed25519 signing keys: making them, naming them, and the keyring that signs and verifies.

A key's ``kid`` is its RFC 7638 JWK thumbprint, so the id is derived from the key itself and
two processes can never give different keys the same id. The private half is stored sealed
(:mod:`services.identity.secret_box`) and opened only in memory, when the key first signs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)
from jwt.algorithms import OKPAlgorithm
from sqlalchemy.exc import SQLAlchemyError

from services.identity.models import SigningKey
from services.identity.secret_box import SecretBox, signing_key_context
from services.identity.tokens import repository
from shared.db import Database, utc_now

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 thumbprint of an OKP public JWK (members per RFC 8037 section 2)."""
    members = {"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def generate_signing_key(box: SecretBox, created_at: datetime | None = None) -> SigningKey:
    """A new Ed25519 key pair as a (not yet stored) :class:`SigningKey` row, its private half
    sealed with ``box``."""
    private_key = Ed25519PrivateKey.generate()
    pem = private_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    public_jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    kid = jwk_thumbprint(public_jwk)
    public_jwk.update(kid=kid, alg=ALGORITHM, use="sig")
    return SigningKey(
        kid=kid,
        algorithm=ALGORITHM,
        private_key_pem=box.seal(pem.decode("ascii"), context=signing_key_context(kid)),
        public_jwk=public_jwk,
        created_at=created_at or utc_now(),
    )


@dataclass(frozen=True)
class _VerifyingKey:
    jwk: jwt.PyJWK
    # Wall-clock time (epoch seconds) after which the key no longer verifies; None = active.
    usable_until: float | None


class Keyring:
    """Identity's own keys: parsed private keys to sign with, and a local ``KeySource``.

    ``get`` is what :class:`shared.tokens.TokenVerifier` calls for every token it has not seen,
    so keys are held in memory. The database is read again when a token names a kid not held
    (at most once per ``min_refresh_seconds``, so forged kids cannot hammer it), and every
    ``max_age_seconds`` so a rotation or retirement made by another process is noticed.
    """

    def __init__(
        self,
        database: Database,
        *,
        retention: timedelta,
        box: SecretBox,
        max_age_seconds: float = 60.0,
        min_refresh_seconds: float = 1.0,
    ) -> None:
        self._database = database
        self._retention = retention
        self.box = box
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._verifying: dict[str, _VerifyingKey] = {}
        self._signing: dict[str, Ed25519PrivateKey] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> jwt.PyJWK | None:
        """The public key ``kid`` if it may still verify tokens, else None."""
        since_load = time.monotonic() - self._loaded_at
        if kid not in self._verifying or since_load > self._max_age:
            async with self._lock:
                since_load = time.monotonic() - self._loaded_at
                stale = since_load > self._max_age
                if stale or (kid not in self._verifying and since_load > self._min_refresh):
                    await self._reload()
        key = self._verifying.get(kid)
        if key is None or (key.usable_until is not None and key.usable_until < time.time()):
            return None
        return key.jwk

    def new_key(self, created_at: datetime | None = None) -> SigningKey:
        """A new key pair to store, sealed with this keyring's box."""
        return generate_signing_key(self.box, created_at)

    def signer(self, key: SigningKey) -> Ed25519PrivateKey:
        """The parsed private key of ``key``, which also starts verifying its tokens here."""
        private_key = self._signing.get(key.kid)
        if private_key is None:
            pem = self.box.open(key.private_key_pem, context=signing_key_context(key.kid))
            loaded = load_pem_private_key(pem.encode("ascii"), password=None)
            if not isinstance(loaded, Ed25519PrivateKey):
                raise TypeError(f"signing key {key.kid} is not an Ed25519 key")
            private_key = self._signing[key.kid] = loaded
        if key.kid not in self._verifying:
            self._verifying[key.kid] = self._verifying_key(key)
        return private_key

    def _verifying_key(self, key: SigningKey) -> _VerifyingKey:
        usable_until = (
            None if key.retired_at is None else (key.retired_at + self._retention).timestamp()
        )
        return _VerifyingKey(jwt.PyJWK(key.public_jwk, algorithm=key.algorithm), usable_until)

    async def _reload(self) -> None:
        self._loaded_at = time.monotonic()
        try:
            async with self._database.unit_of_work() as session:
                keys = await repository.verifying_keys(session, utc_now() - self._retention)
        except SQLAlchemyError as exc:
            # Keep verifying with the keys already held; an unknown kid stays unknown.
            log.warning("could not reload signing keys, keeping %d: %s", len(self._verifying), exc)
            return
        self._verifying = {key.kid: self._verifying_key(key) for key in keys}
