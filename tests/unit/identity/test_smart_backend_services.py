"""SMART App Launch 2.2 backend services: partner apps register public keys (a JWKS or a JWKS
URL) and get tokens at /oauth/token with a signed client assertion (RFC 7523), with SMART
system scopes mapped onto the partner scopes. Assertions are made with joserfc (not PyJWT,
which identity verifies with), and the known attacks on them are refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import time
import uuid
import warnings
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from services.identity.app import create_app
from services.identity.partners import JwksFetcher
from services.identity.partners.keys import InvalidJwks
from services.identity.settings import IdentitySettings
from shared.destinations import DestinationPolicy
from tests.support.served_app import ServedApp
from tests.support.smart_client import SmartClient, assertion_form
from tests.unit.identity.factories import access_token, admin_token, bearer

TOKEN_URL = "http://127.0.0.1:8000/oauth/token"


async def _register(
    client: httpx.AsyncClient, admin: str, scopes: list[str], **keys: Any
) -> httpx.Response:
    return await client.post(
        "/v1/partner-apps",
        json={"name": "Acme EHR", "scopes": scopes, **keys},
        headers=bearer(admin),
    )


async def _partner(
    app: FastAPI, client: httpx.AsyncClient, smart: SmartClient, scopes: list[str] | None = None
) -> str:
    admin = await admin_token(app, client)
    response = await _register(
        client, admin, scopes or ["appointments:read", "goals:read"], jwks=smart.jwks()
    )
    assert response.status_code == 201, response.text
    client_id: str = response.json()["client_id"]
    return client_id


async def _token(
    client: httpx.AsyncClient, assertion: str, scope: str | None = None
) -> httpx.Response:
    return await client.post("/oauth/token", data=assertion_form(assertion, scope))


@pytest.mark.parametrize("algorithm", ["RS384", "ES384"])
async def test_a_signed_assertion_gets_a_partner_token_with_mapped_scopes(
    app: FastAPI, client: httpx.AsyncClient, algorithm: str
) -> None:
    smart = SmartClient(algorithm)
    client_id = await _partner(app, client, smart)
    response = await _token(
        client, smart.assertion(client_id, TOKEN_URL), "system/Appointment.rs system/Goal.rs"
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "system/Appointment.rs system/Goal.rs"
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == client_id
    assert claims["role"] == "partner"
    assert claims["scope"] == "appointments:read goals:read"


async def test_without_a_scope_the_registered_scopes_are_granted(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    smart = SmartClient()
    client_id = await _partner(app, client, smart, ["goals:read"])
    response = await _token(client, smart.assertion(client_id, TOKEN_URL))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "goals:read"


@pytest.mark.parametrize(
    ("scope", "granted"),
    [
        ("system/Goal.read", "goals:read"),
        ("system/Goal.rs system/Observation.rs", "goals:read"),
        ("system/*.rs", "appointments:read goals:read"),
        ("goals:read system/Appointment.s", "appointments:read goals:read"),
    ],
)
async def test_smart_scopes_map_onto_partner_scopes(
    app: FastAPI, client: httpx.AsyncClient, scope: str, granted: str
) -> None:
    smart = SmartClient()
    client_id = await _partner(app, client, smart)
    response = await _token(client, smart.assertion(client_id, TOKEN_URL), scope)
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == granted


@pytest.mark.parametrize(
    "scope",
    [
        "system/Encounter.rs",  # needs sessions:read, not registered
        "system/Appointment.cruds",  # needs appointments:write
        "system/QuestionnaireResponse.rs",  # check-ins: never a partner's
        "patient/Goal.rs",
        "system/Goal.x",
    ],
)
async def test_a_scope_beyond_the_registration_is_invalid_scope(
    app: FastAPI, client: httpx.AsyncClient, scope: str
) -> None:
    smart = SmartClient()
    client_id = await _partner(app, client, smart)
    response = await _token(client, smart.assertion(client_id, TOKEN_URL), scope)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"


def _claims(client_id: str, **changes: Any) -> dict[str, Any]:
    return {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": int(time.time()) + 240,
        "jti": uuid.uuid4().hex,
        **changes,
    }


def _alg_none(smart: SmartClient, client_id: str) -> str:
    return _unsigned({"alg": "none", "kid": smart.kid, "typ": "JWT"}, _claims(client_id)) + "."


def _hs256_with_the_public_key(smart: SmartClient, client_id: str) -> str:
    # The classic confusion: HMAC keyed with the public key, which anyone holds.
    public_pem = smart.key.as_pem(private=False)
    signing_input = _unsigned({"alg": "HS256", "kid": smart.kid, "typ": "JWT"}, _claims(client_id))
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _wrong_signature(smart: SmartClient, client_id: str) -> str:
    # Another key under the registered kid: a forger who knows the kid but not the key.
    return SmartClient(smart.algorithm, kid=smart.kid).assertion(client_id, TOKEN_URL)


def _unknown_key(smart: SmartClient, client_id: str) -> str:
    return SmartClient(smart.algorithm).assertion(client_id, TOKEN_URL)


def _tampered(smart: SmartClient, client_id: str) -> str:
    header, _, signature = smart.assertion(client_id, TOKEN_URL).split(".")
    forged = _b64(json.dumps(_claims("pa_someone_else")).encode())
    return f"{header}.{forged}.{signature}"


def _no_jti(smart: SmartClient, client_id: str) -> str:
    claims = _claims(client_id)
    del claims["jti"]
    header = {"alg": smart.algorithm, "kid": smart.kid}
    return jose_jwt.encode(header, claims, smart.key, algorithms=[smart.algorithm])


ATTACKS = {
    "alg none": _alg_none,
    "HS256 with the public key": _hs256_with_the_public_key,
    "wrong signature": _wrong_signature,
    "unknown key": _unknown_key,
    "tampered claims": _tampered,
    "wrong audience": lambda s, c: s.assertion(c, "https://elsewhere.example/oauth/token"),
    "expired": lambda s, c: s.assertion(c, TOKEN_URL, lifetime=-120),
    "exp too far": lambda s, c: s.assertion(c, TOKEN_URL, lifetime=600),
    "sub is not the client": lambda s, c: s.assertion(c, TOKEN_URL, sub="pa_other"),
    "no jti": lambda s, c: _no_jti(s, c),
    "no exp": lambda s, c: s.assertion(c, TOKEN_URL, exp=None),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_attacks_on_the_assertion_are_refused(
    app: FastAPI, client: httpx.AsyncClient, attack: str
) -> None:
    smart = SmartClient()
    client_id = await _partner(app, client, smart)
    response = await _token(client, ATTACKS[attack](smart, client_id))
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "invalid_client"
    assert "access_token" not in response.json()
    # The same partner's honest assertion works: the refusal is the attack's.
    assert (await _token(client, smart.assertion(client_id, TOKEN_URL))).status_code == 200


async def test_a_reused_jti_is_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    smart = SmartClient("ES384")
    client_id = await _partner(app, client, smart)
    assertion = smart.assertion(client_id, TOKEN_URL)
    assert (await _token(client, assertion)).status_code == 200
    replayed = await _token(client, assertion)
    assert replayed.status_code == 401
    assert replayed.json() == {
        "error": "invalid_client",
        "error_description": "client_assertion's jti was used before",
    }
    # Another assertion with the same jti is the same replay.
    again = await _token(client, smart.assertion(client_id, TOKEN_URL, jti=_jti(assertion)))
    assert again.status_code == 401


def _jti(assertion: str) -> str:
    jti: str = jwt.decode(assertion, options={"verify_signature": False})["jti"]
    return jti


async def test_concurrent_uses_of_one_assertion_get_one_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    smart = SmartClient()
    client_id = await _partner(app, client, smart)
    assertion = smart.assertion(client_id, TOKEN_URL)
    answers = await asyncio.gather(*(_token(client, assertion) for _ in range(8)))
    assert sorted(a.status_code for a in answers) == [200] + [401] * 7


async def test_a_client_secret_still_works_beside_keys(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    smart = SmartClient()
    admin = await admin_token(app, client)
    registered = (await _register(client, admin, ["goals:read"], jwks=smart.jwks())).json()
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": registered["client_id"],
            "client_secret": registered["client_secret"],
        },
    )
    assert response.status_code == 200, response.text


async def test_two_authentication_methods_at_once_are_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    smart = SmartClient()
    client_id = await _partner(app, client, smart)
    form = assertion_form(smart.assertion(client_id, TOKEN_URL))
    response = await client.post("/oauth/token", data={**form, "client_secret": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    wrong_type = {**form, "client_assertion_type": "urn:example:other"}
    assert (await client.post("/oauth/token", data=wrong_type)).status_code == 400


async def test_an_app_without_keys_cannot_use_an_assertion(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await admin_token(app, client)
    client_id = (await _register(client, admin, ["goals:read"])).json()["client_id"]
    response = await _token(client, SmartClient().assertion(client_id, TOKEN_URL))
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "this client has registered no public keys",
    }


def _rsa_1024() -> dict[str, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc warns about the small key: that is the point
        key = RSAKey.generate_key(1024, parameters={"kid": "small"}, private=True)
    return {"keys": [key.as_dict(private=False)]}


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({"jwks": {"keys": []}}, "keys"),
        ({"jwks": {"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}}, "kid"),
        ({"jwks": {"keys": [{"kid": "hmac", "kty": "oct", "k": "c2VjcmV0"}]}}, "symmetric"),
        ({"jwks": {"keys": [SmartClient().key.as_dict(private=True)]}}, "private"),
        ({"jwks": _rsa_1024()}, "2048"),
        ({"jwks_url": "http://127.0.0.1:9/jwks.json"}, "not a public address"),
        ({"jwks_url": "http://169.254.169.254/latest"}, "not a public address"),
        ({"jwks_url": "file:///etc/passwd"}, "http"),
        ({"jwks": SmartClient().jwks(), "jwks_url": "https://example.com/j"}, "not both"),
    ],
)
async def test_unusable_keys_are_refused_at_registration(
    app: FastAPI, client: httpx.AsyncClient, keys: dict[str, Any], says: str
) -> None:
    admin = await admin_token(app, client)
    response = await _register(client, admin, ["goals:read"], **keys)
    assert response.status_code == 422, response.text
    assert says in response.json()["detail"]


async def test_keys_can_be_replaced_and_old_ones_stop_working(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    old, new = SmartClient(), SmartClient("ES384")
    client_id = await _partner(app, client, old)
    admin = await access_token(client, "ops@example.com")
    response = await client.put(
        f"/v1/partner-apps/{client_id}/keys", json={"jwks": new.jwks()}, headers=bearer(admin)
    )
    assert response.status_code == 200, response.text
    assert response.json()["jwks"] == new.jwks()
    assert (await _token(client, old.assertion(client_id, TOKEN_URL))).status_code == 401
    assert (await _token(client, new.assertion(client_id, TOKEN_URL))).status_code == 200


async def test_discovery_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/smart-configuration")
    assert response.status_code == 200
    body = response.json()
    assert body["token_endpoint"] == TOKEN_URL
    assert body["grant_types_supported"] == ["client_credentials"]
    assert "private_key_jwt" in body["token_endpoint_auth_methods_supported"]
    assert body["token_endpoint_auth_signing_alg_values_supported"] == ["RS384", "ES384"]
    assert "client-confidential-asymmetric" in body["capabilities"]
    assert "system/Goal.rs" in body["scopes_supported"]
    assert "system/QuestionnaireResponse.rs" not in body["scopes_supported"]


class _PublishedKeys:
    """A partner's JWKS URL: serves whatever keys the partner publishes now."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {"keys": []}
        self.fetches = 0
        published = FastAPI()

        @published.get("/jwks.json")
        async def jwks() -> dict[str, Any]:
            self.fetches += 1
            return self.keys

        self.app = published


@pytest.fixture
def private_jwks_settings(settings: IdentitySettings) -> IdentitySettings:
    # The partner's JWKS server runs on this machine (127.0.0.1) in the test.
    return settings.model_copy(update={"partner_jwks_allow_private_urls": True})


async def test_keys_from_a_jwks_url_are_fetched_once_and_cached(
    private_jwks_settings: IdentitySettings, migrated: str
) -> None:
    published = _PublishedKeys()
    first, second = SmartClient(), SmartClient("ES384")
    published.keys = first.jwks()
    served = await ServedApp(published.app).start()
    app = create_app(private_jwks_settings)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
                admin = await admin_token(app, client)
                registered = await _register(
                    client, admin, ["goals:read"], jwks_url=f"{served.url}/jwks.json"
                )
                assert registered.status_code == 201, registered.text
                client_id = registered.json()["client_id"]
                ok = await _token(client, first.assertion(client_id, TOKEN_URL))
                assert ok.status_code == 200, ok.text
                assert (await _token(client, first.assertion(client_id, TOKEN_URL))).is_success
                assert published.fetches == 1
                # A kid it does not know, just after a fetch: refused without a refetch.
                unknown = await _token(client, second.assertion(client_id, TOKEN_URL))
                assert unknown.status_code == 401
                assert published.fetches == 1
    finally:
        await served.stop()


async def test_a_rotated_jwks_url_is_read_again_for_a_new_kid() -> None:
    published = _PublishedKeys()
    first, second = SmartClient(), SmartClient("ES384")
    published.keys = first.jwks()
    served = await ServedApp(published.app).start()
    fetcher = JwksFetcher(DestinationPolicy(allow_private=True), refetch_seconds=0.0)
    url = f"{served.url}/jwks.json"
    try:
        assert set(await fetcher.keys(url, kid=first.kid)) == {first.kid}
        assert set(await fetcher.keys(url, kid=first.kid)) == {first.kid}
        assert published.fetches == 1
        published.keys = {"keys": [*first.jwks()["keys"], *second.jwks()["keys"]]}
        assert set(await fetcher.keys(url, kid=second.kid)) == {first.kid, second.kid}
        assert published.fetches == 2
    finally:
        await fetcher.aclose()
        await served.stop()


async def test_a_jwks_url_that_resolves_to_a_private_address_is_never_fetched() -> None:
    async def private_dns(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address("10.0.0.7")]

    fetcher = JwksFetcher(DestinationPolicy(resolver=private_dns))
    try:
        with pytest.raises(InvalidJwks, match="not a public address"):
            await fetcher.keys("https://keys.partner.example/jwks.json", kid="k")
    finally:
        await fetcher.aclose()
