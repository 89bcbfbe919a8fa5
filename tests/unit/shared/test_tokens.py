"""Shared token verification refuses every kind of bad token, each in its own test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.errors import Unauthorized
from shared.tokens import TokenVerifier
from tests.support.tokens import TestTokenIssuer


@pytest.fixture
def issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture
def verifier(issuer: TestTokenIssuer) -> TokenVerifier:
    return TokenVerifier(issuer.key_source, issuer="rapport-identity", audience="rapport")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: object) -> dict:
    now = int(time.time())
    claims = {
        "iss": "rapport-identity",
        "aud": "rapport",
        "sub": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": str(uuid.uuid4()),
        "role": "client",
    }
    claims.update(overrides)
    return claims


async def test_valid_token_gives_principal(issuer: TestTokenIssuer, verifier: TokenVerifier):
    user = uuid.uuid4()
    principal = await verifier.verify(issuer.issue(user, "clinician", scopes="a:read b:write"))
    assert principal.user_id == user
    assert principal.role == "clinician"
    assert principal.scopes == {"a:read", "b:write"}


async def test_alg_none_is_refused(issuer: TestTokenIssuer, verifier: TokenVerifier):
    token = f"{_b64({'alg': 'none', 'kid': issuer.kid})}.{_b64(_claims())}."
    with pytest.raises(Unauthorized, match="algorithm"):
        await verifier.verify(token)


async def test_hs256_signed_with_the_public_key_is_refused(
    issuer: TestTokenIssuer, verifier: TokenVerifier
):
    # The classic confusion attack: HMAC "signed" with the published public key as secret.
    public = json.dumps(issuer.jwks["keys"][0]).encode()
    signing_input = f"{_b64({'alg': 'HS256', 'kid': issuer.kid})}.{_b64(_claims())}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(Unauthorized, match="algorithm"):
        await verifier.verify(token)


async def test_wrong_signing_key_is_refused(issuer: TestTokenIssuer, verifier: TokenVerifier):
    token = jwt.encode(
        _claims(), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": issuer.kid}
    )
    with pytest.raises(Unauthorized, match="invalid token"):
        await verifier.verify(token)


async def test_unknown_kid_is_refused(issuer: TestTokenIssuer, verifier: TokenVerifier):
    token = jwt.encode(_claims(), issuer.private_key, algorithm="EdDSA", headers={"kid": "other"})
    with pytest.raises(Unauthorized, match="unknown key"):
        await verifier.verify(token)


async def test_expired_token_is_refused(issuer: TestTokenIssuer, verifier: TokenVerifier):
    with pytest.raises(Unauthorized, match="expired"):
        await verifier.verify(issuer.issue(uuid.uuid4(), "client", lifetime=-60))


async def test_wrong_audience_is_refused(issuer: TestTokenIssuer, verifier: TokenVerifier):
    token = issuer.issue(uuid.uuid4(), "client", audience="rapport-signaling")
    with pytest.raises(Unauthorized, match="(?i)audience"):
        await verifier.verify(token)


async def test_wrong_issuer_is_refused(verifier: TokenVerifier):
    other = TestTokenIssuer(issuer="someone-else")
    # Same key source as the verifier expects, different issuer claim.
    token = jwt.encode(
        _claims(iss="someone-else"),
        other.private_key,
        algorithm="EdDSA",
        headers={"kid": other.kid},
    )
    verifier_for_other = TokenVerifier(
        other.key_source, issuer="rapport-identity", audience="rapport"
    )
    with pytest.raises(Unauthorized, match="(?i)issuer"):
        await verifier_for_other.verify(token)


async def test_missing_required_claim_is_refused(issuer: TestTokenIssuer, verifier: TokenVerifier):
    claims = _claims()
    del claims["jti"]
    token = jwt.encode(claims, issuer.private_key, algorithm="EdDSA", headers={"kid": issuer.kid})
    with pytest.raises(Unauthorized, match="jti"):
        await verifier.verify(token)


async def test_tampered_payload_is_refused(issuer: TestTokenIssuer, verifier: TokenVerifier):
    header, _, signature = issuer.issue(uuid.uuid4(), "client").split(".")
    forged = f"{header}.{_b64(_claims(role='admin'))}.{signature}"
    with pytest.raises(Unauthorized):
        await verifier.verify(forged)


async def test_revoked_subject_is_refused_even_from_cache(
    issuer: TestTokenIssuer, verifier: TokenVerifier
):
    user = uuid.uuid4()
    token = issuer.issue(user, "client")
    await verifier.verify(token)  # now cached
    verifier.revoke_subject(str(user), before=time.time() + 1)
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(token)


async def test_garbage_is_refused(verifier: TokenVerifier):
    with pytest.raises(Unauthorized, match="malformed"):
        await verifier.verify("not-a-jwt")


async def test_a_revoked_sign_in_is_refused_even_from_cache_and_no_other(
    issuer: TestTokenIssuer, verifier: TokenVerifier
):
    user, signed_out, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    token = issuer.issue(user, "client", fid=str(signed_out))
    assert (await verifier.verify(token)).family_id == signed_out  # now cached
    verifier.revoke_family(signed_out)
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(token)
    # Whenever it was minted: nothing is minted from an ended sign-in, so any is a leftover.
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(issuer.issue(user, "client", fid=str(signed_out)))
    assert (await verifier.verify(issuer.issue(user, "client", fid=str(other)))).user_id == user
    assert (await verifier.verify(issuer.issue(user, "client"))).family_id is None


async def test_revoked_sign_ins_are_forgotten_once_no_token_of_theirs_can_be_valid(
    issuer: TestTokenIssuer,
):
    verifier = TokenVerifier(
        issuer.key_source,
        issuer="rapport-identity",
        audience="rapport",
        family_memory_seconds=3600,
    )
    long_ago, recent = uuid.uuid4(), uuid.uuid4()
    verifier.revoke_family(long_ago, at=time.time() - 7200)
    verifier.revoke_family(recent)
    # Only for the test: a token of the long-ago sign-in, which could no longer be valid.
    token = issuer.issue(uuid.uuid4(), "client", fid=str(long_ago))
    assert (await verifier.verify(token)).family_id == long_ago
    with pytest.raises(Unauthorized, match="revoked"):
        await verifier.verify(issuer.issue(uuid.uuid4(), "client", fid=str(recent)))


async def test_a_malformed_sign_in_claim_is_refused(
    issuer: TestTokenIssuer, verifier: TokenVerifier
):
    with pytest.raises(Unauthorized, match="invalid fid claim"):
        await verifier.verify(issuer.issue(uuid.uuid4(), "client", fid="not-a-uuid"))
