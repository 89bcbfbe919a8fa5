"""Signing keys: kid thumbprints, rotation, and how long a retired key keeps verifying."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt
from sqlmodel import select

from services.identity.app import create_app
from services.identity.models import SigningKey
from services.identity.secret_box import SecretBox, signing_key_context
from services.identity.settings import DEVELOPMENT_SECRETS_KEY, IdentitySettings
from services.identity.tokens.signing_keys import Keyring, generate_signing_key, jwk_thumbprint
from shared.db import Database, utc_now
from tests.unit.identity.factories import access_token, bearer, registered_user, unverified_parts

# The key identity's test settings (environment "test", no RAPPORT_IDENTITY_SECRETS_KEY) use.
BOX = SecretBox(DEVELOPMENT_SECRETS_KEY)


def test_kid_is_the_rfc_7638_thumbprint() -> None:
    # RFC 8037, appendix A.3: the thumbprint of the example Ed25519 public key.
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_a_generated_key_is_named_by_its_own_thumbprint() -> None:
    key = generate_signing_key(BOX)
    assert key.kid == jwk_thumbprint(key.public_jwk)
    assert key.public_jwk["kid"] == key.kid
    assert "d" not in key.public_jwk
    pem = BOX.open(key.private_key_pem, context=signing_key_context(key.kid))
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert generate_signing_key(BOX).kid != key.kid


async def test_the_first_start_creates_exactly_one_active_key(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.unit_of_work() as session:
        keys = (await session.exec(select(SigningKey))).all()
    assert len(keys) == 1
    assert keys[0].retired_at is None
    served = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert [k["kid"] for k in served] == [keys[0].kid]


async def test_a_key_retired_longer_than_any_token_lives_stops_verifying(
    client: httpx.AsyncClient, database: Database, settings: IdentitySettings
) -> None:
    await registered_user(client, email="old@example.com")
    old_token = await access_token(client, "old@example.com")
    old_kid = unverified_parts(old_token)[0]["kid"]
    async with database.unit_of_work() as session:
        old_key = await session.get(SigningKey, old_kid)
        assert old_key is not None
        # Longer ago than the longest token lifetime plus grace: nothing it signed is valid.
        old_key.retired_at = utc_now() - timedelta(hours=1)
        session.add(old_key)
        session.add(generate_signing_key(BOX))

    served = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert old_kid not in [k["kid"] for k in served]
    assert len(served) == 1

    keyring = Keyring(database, retention=timedelta(seconds=960), box=BOX)
    assert await keyring.get(old_kid) is None
    assert await keyring.get(served[0]["kid"]) is not None

    # A freshly started identity (another replica, a restart) refuses the old token.
    replica = create_app(settings)
    async with (
        replica.router.lifespan_context(replica),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica), base_url="http://replica"
        ) as replica_client,
    ):
        refused = await replica_client.get("/v1/users/me", headers=bearer(old_token))
    assert refused.status_code == 401


async def test_a_recently_retired_key_still_verifies_and_is_still_served(
    database: Database,
) -> None:
    recently = generate_signing_key(BOX)
    recently.retired_at = utc_now() - timedelta(minutes=5)
    async with database.unit_of_work() as session:
        session.add(recently)

    keyring = Keyring(database, retention=timedelta(seconds=960), box=BOX)
    key = await keyring.get(recently.kid)
    assert isinstance(key, jwt.PyJWK)
    assert key.algorithm_name == "EdDSA"
