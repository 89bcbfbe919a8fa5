"""Shared verification (``shared.tokens.TokenVerifier``, as every service runs it) against
tokens identity really issues: each way a token can be bad is refused on its own."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlmodel import select

from services.identity.models import SigningKey
from services.identity.secret_box import SecretBox, signing_key_context
from services.identity.settings import DEVELOPMENT_SECRETS_KEY
from shared.db import Database
from shared.errors import Unauthorized
from shared.tokens import StaticKeySource, TokenVerifier
from tests.unit.identity.factories import login, registered_user, served_keys, unverified_parts

PASSWORD = "correct horse battery"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _segment(data: dict[str, Any]) -> str:
    return _b64(json.dumps(data, separators=(",", ":")).encode())


class Issued:
    """A real login's tokens, the verifier another service would build, and identity's key."""

    def __init__(
        self, body: dict[str, Any], verifier: TokenVerifier, key: SigningKey, jwks: dict[str, Any]
    ) -> None:
        self.access = str(body["access_token"])
        self.refresh = str(body["refresh_token"])
        self.verifier = verifier
        self.key = key
        self.jwks = jwks
        self.header, self.claims = unverified_parts(self.access)

    def resigned(self, **changes: Any) -> str:
        """The access token with changed claims, properly signed with identity's key."""
        box = SecretBox(DEVELOPMENT_SECRETS_KEY)  # what identity's test settings seal with
        pem = box.open(self.key.private_key_pem, context=signing_key_context(self.key.kid))
        private = load_pem_private_key(pem.encode(), password=None)
        return jwt.encode(
            {**self.claims, **changes}, private, algorithm="EdDSA", headers={"kid": self.key.kid}
        )


@pytest.fixture
async def issued(client: httpx.AsyncClient, database: Database) -> Issued:
    await registered_user(client, email="verify@example.com")
    body = (await login(client, "verify@example.com", PASSWORD)).json()
    keys = await served_keys(client)
    verifier = TokenVerifier(StaticKeySource(keys), issuer="rapport-identity", audience="rapport")
    async with database.unit_of_work() as session:
        key = (await session.exec(select(SigningKey))).one()
    jwks = (await client.get("/.well-known/jwks.json")).json()
    return Issued(body, verifier, key, jwks)


async def _refused(issued: Issued, token: str) -> str:
    with pytest.raises(Unauthorized) as refused:
        await issued.verifier.verify(token)
    return refused.value.detail


async def test_the_genuine_token_verifies(issued: Issued) -> None:
    principal = await issued.verifier.verify(issued.access)
    assert principal.subject == issued.claims["sub"]
    assert issued.header["alg"] == "EdDSA"
    assert issued.header["kid"] == issued.key.kid


async def test_alg_none_is_refused(issued: Issued) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": issued.key.kid}
    token = f"{_segment(header)}.{_segment(issued.claims)}."
    assert "not accepted" in await _refused(issued, token)


async def test_hs256_signed_with_the_public_key_as_secret_is_refused(issued: Issued) -> None:
    public = issued.jwks["keys"][0]
    secrets_tried = [public["x"].encode(), json.dumps(public).encode()]
    for secret in secrets_tried:
        header = {"alg": "HS256", "typ": "JWT", "kid": issued.key.kid}
        signing_input = f"{_segment(header)}.{_segment(issued.claims)}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        assert "not accepted" in await _refused(issued, f"{signing_input}.{_b64(signature)}")


async def test_an_expired_token_is_refused(issued: Issued) -> None:
    now = int(time.time())
    token = issued.resigned(iat=now - 1000, nbf=now - 1000, exp=now - 60)
    assert await _refused(issued, token) == "token expired"


async def test_a_token_not_yet_valid_is_refused(issued: Issued) -> None:
    now = int(time.time())
    token = issued.resigned(nbf=now + 600, exp=now + 900)
    assert "not yet valid" in await _refused(issued, token)


async def test_a_wrong_audience_is_refused(issued: Issued) -> None:
    assert "Audience" in await _refused(issued, issued.resigned(aud="rapport-signaling"))


async def test_a_wrong_issuer_is_refused(issued: Issued) -> None:
    assert "issuer" in await _refused(issued, issued.resigned(iss="someone-else"))


async def test_an_unknown_kid_is_refused(issued: Issued) -> None:
    _, payload, signature = issued.access.split(".")
    header = {**issued.header, "kid": "not-a-key-we-publish"}
    token = f"{_segment(header)}.{payload}.{signature}"
    assert await _refused(issued, token) == "token signed by an unknown key"


async def test_a_tampered_payload_is_refused(issued: Issued) -> None:
    header, _, signature = issued.access.split(".")
    token = f"{header}.{_segment({**issued.claims, 'role': 'admin'})}.{signature}"
    assert "Signature verification failed" in await _refused(issued, token)


async def test_a_refresh_token_is_not_an_access_token(issued: Issued) -> None:
    assert await _refused(issued, issued.refresh) == "malformed token"
