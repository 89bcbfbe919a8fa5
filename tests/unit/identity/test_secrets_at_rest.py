"""Secrets at rest: TOTP secrets and private signing keys are stored sealed (AES-256-GCM) under
the operator's key, logins and tokens still work, and existing plaintext rows are sealed by the
migration."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm
from pydantic import SecretStr, ValidationError
from sqlalchemy import text
from sqlmodel import select

from services.identity.__main__ import main
from services.identity.app import create_app
from services.identity.models import SigningKey, User
from services.identity.passwords import PasswordHashing
from services.identity.secret_box import (
    SecretBox,
    SecretUnreadable,
    signing_key_context,
    totp_context,
)
from services.identity.settings import DEVELOPMENT_SECRETS_KEY, IdentitySettings, MissingSecretsKey
from services.identity.tokens.signing_keys import jwk_thumbprint
from shared.db import Database, utc_now
from shared.migrations import upgrade
from tests.unit.identity.conftest import MIGRATIONS
from tests.unit.identity.factories import access_token, bearer, registered_user

PASSWORD = "correct horse battery"
OPERATOR_KEY = base64.b64encode(os.urandom(32)).decode()


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://identity")


@pytest.fixture
async def sealed_app(settings: IdentitySettings, migrated: str) -> AsyncIterator[FastAPI]:
    """Identity with an operator's key (not the development one)."""
    app = create_app(settings.model_copy(update={"secrets_key": SecretStr(OPERATOR_KEY)}))
    async with app.router.lifespan_context(app):
        yield app


async def _stored_user(database: Database, email: str) -> User:
    async with database.unit_of_work() as session:
        return (await session.exec(select(User).where(User.email == email))).one()


async def test_the_totp_secret_is_stored_sealed_and_logins_still_work(
    sealed_app: FastAPI, database: Database
) -> None:
    async with _client(sealed_app) as client:
        await registered_user(client, email="doc@example.com", role="clinician")
        token = await access_token(client, "doc@example.com")
        started = await client.post("/v1/auth/mfa/totp", headers=bearer(token))
        secret = started.json()["secret"]
        confirmed = await client.post(
            "/v1/auth/mfa/totp/confirm",
            json={"code": pyotp.TOTP(secret).at(time.time() - 30)},
            headers=bearer(token),
        )
        assert confirmed.status_code == 200, confirmed.text

        stored = (await _stored_user(database, "doc@example.com")).totp_secret
        assert stored is not None
        assert secret not in stored and secret.lower() not in stored.lower()
        assert stored.startswith("aesgcm:v1:")
        # Sealed with the operator's key, not the public development one.
        with pytest.raises(SecretUnreadable):
            SecretBox(DEVELOPMENT_SECRETS_KEY).open(stored, context=totp_context(uuid.uuid4()))

        login = await client.post(
            "/v1/auth/login",
            json={
                "email": "doc@example.com",
                "password": PASSWORD,
                "otp": pyotp.TOTP(secret).now(),
            },
        )
        assert login.status_code == 200, login.text


async def test_the_private_signing_key_is_stored_sealed_and_tokens_still_verify(
    sealed_app: FastAPI, database: Database
) -> None:
    async with _client(sealed_app) as client:
        await registered_user(client, email="ada@example.com")
        token = await access_token(client, "ada@example.com")
        me = await client.get("/v1/users/me", headers=bearer(token))
        jwks = (await client.get("/.well-known/jwks.json")).json()
    assert me.status_code == 200
    async with database.unit_of_work() as session:
        key = (await session.exec(select(SigningKey))).one()
    assert "PRIVATE KEY" not in key.private_key_pem
    assert key.private_key_pem.startswith("aesgcm:v1:")
    public = jwt.PyJWKSet.from_dict(jwks).keys[0]
    assert jwt.decode(token, public.key, algorithms=["EdDSA"], audience="rapport")["sub"]


def test_a_sealed_value_opens_only_with_its_key_and_on_its_own_row() -> None:
    box = SecretBox(os.urandom(32))
    mine, theirs = totp_context(uuid.uuid4()), totp_context(uuid.uuid4())
    sealed = box.seal("JBSWY3DPEHPK3PXP", context=mine)

    assert box.open(sealed, context=mine) == "JBSWY3DPEHPK3PXP"
    assert box.seal("JBSWY3DPEHPK3PXP", context=mine) != sealed  # a fresh nonce each time
    for wrong_box, context in ((box, theirs), (SecretBox(os.urandom(32)), mine)):
        with pytest.raises(SecretUnreadable):
            wrong_box.open(sealed, context=context)
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    with pytest.raises(SecretUnreadable):
        box.open(tampered, context=mine)


def test_production_refuses_to_start_without_a_secrets_key(database_url: str) -> None:
    production = IdentitySettings(environment="production", database_url=database_url)
    with pytest.raises(MissingSecretsKey):
        create_app(production)
    create_app(production.model_copy(update={"secrets_key": SecretStr(OPERATOR_KEY)}))


def test_the_cli_says_what_is_missing_in_production(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAPPORT_ENVIRONMENT", "production")
    monkeypatch.setenv("RAPPORT_IDENTITY_DATABASE_URL", database_url)
    monkeypatch.delenv("RAPPORT_IDENTITY_SECRETS_KEY", raising=False)
    assert main(["rotate-keys"]) == 2
    assert "RAPPORT_IDENTITY_SECRETS_KEY" in capsys.readouterr().err


@pytest.mark.parametrize("key", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_key_that_is_not_32_bytes_of_base64_is_refused(key: str) -> None:
    with pytest.raises(ValidationError):
        IdentitySettings(secrets_key=key)


def _legacy_signing_key() -> dict[str, Any]:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    jwk: dict[str, Any] = OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    kid = jwk_thumbprint(jwk)
    jwk.update(kid=kid, alg="EdDSA", use="sig")
    return {"kid": kid, "pem": pem, "jwk": jwk}


async def test_the_migration_seals_existing_plaintext_rows(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await asyncio.to_thread(upgrade, MIGRATIONS, database_url, "0007")
    legacy, secret, user_id = _legacy_signing_key(), pyotp.random_base32(), uuid.uuid4()
    password_hash = await PasswordHashing().hash(PASSWORD)
    database = Database(database_url)
    try:
        async with database.unit_of_work() as session:
            now = utc_now()
            session.add(
                User(
                    id=user_id,
                    email="legacy@example.com",
                    display_name="Legacy",
                    role="clinician",
                    password_hash=password_hash,
                    totp_secret=secret,
                    totp_enabled_at=now,
                )
            )
            session.add(
                SigningKey(
                    kid=legacy["kid"],
                    private_key_pem=legacy["pem"],
                    public_jwk=legacy["jwk"],
                    created_at=now,
                )
            )

        monkeypatch.setenv("RAPPORT_IDENTITY_SECRETS_KEY", OPERATOR_KEY)
        await asyncio.to_thread(upgrade, MIGRATIONS, database_url)
        await asyncio.to_thread(upgrade, MIGRATIONS, database_url)  # at head: a no-op

        async with database.unit_of_work() as session:
            rows = await session.exec(text("SELECT totp_secret FROM users"))  # type: ignore[call-overload]
            stored_secret = rows.one()[0]
            rows = await session.exec(text("SELECT private_key_pem FROM signing_keys"))  # type: ignore[call-overload]
            stored_pem = rows.one()[0]
    finally:
        await database.dispose()
    box = SecretBox(base64.b64decode(OPERATOR_KEY))
    assert secret not in stored_secret
    assert box.open(stored_secret, context=totp_context(user_id)) == secret
    assert "PRIVATE KEY" not in stored_pem
    assert box.open(stored_pem, context=signing_key_context(legacy["kid"])) == legacy["pem"]

    settings = IdentitySettings(
        environment="test",
        database_url=database_url,
        kafka_bootstrap="127.0.0.1:1",
        secrets_key=OPERATOR_KEY,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app), _client(app) as client:
        login = await client.post(
            "/v1/auth/login",
            json={
                "email": "legacy@example.com",
                "password": PASSWORD,
                "otp": pyotp.TOTP(secret).now(),
            },
        )
    assert login.status_code == 200, login.text
    # Signed with the migrated key: the sealed private key opened.
    assert jwt.get_unverified_header(login.json()["access_token"])["kid"] == legacy["kid"]
