"""Reading a client's FHIR resources from Rapport as a SMART backend service.

SMART App Launch 2.2 "backend services", the way a partner app does it (see README.md):

1. the app holds a private key (ES384 here; RS384 works the same) and Rapport's admin has
   registered the public half as a JWKS with the partner app (``PartnerKey.jwks()``);
2. the app reads where to ask for tokens from ``/.well-known/smart-configuration``;
3. it asks ``token_endpoint`` for an access token (client credentials) with a client assertion
   it signs itself: ``iss`` = ``sub`` = its client id, ``aud`` = the token endpoint, a fresh
   ``jti``, expiring within 5 minutes; the token is kept until shortly before it expires;
4. it reads FHIR R4 resources at ``/fhir`` with that token, following each search Bundle's
   ``next`` link; a refusal comes as an ``OperationOutcome``, raised here as :class:`FhirError`.

It depends on ``httpx``, ``cryptography`` and ``PyJWT``; nothing of Rapport's own code.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES384"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The server refuses an assertion that expires more than 5 minutes ahead; stay well inside.
ASSERTION_LIFETIME_SECONDS = 120
# A token is renewed this long before it expires, so no request carries one that lapses on
# the way.
TOKEN_RENEWAL_MARGIN_SECONDS = 60
FHIR_JSON = "application/fhir+json"


class TokenRequestRefused(Exception):
    """The token endpoint refused the request (RFC 6749 section 5.2: ``error`` and
    ``error_description``, e.g. ``invalid_client``: the assertion did not verify)."""

    def __init__(self, status_code: int, error: str, description: str) -> None:
        super().__init__(f"{status_code} {error}: {description}")
        self.status_code = status_code
        self.error = error
        self.description = description


class FhirError(Exception):
    """A FHIR request refused with an OperationOutcome; ``diagnostics`` says why."""

    def __init__(self, status_code: int, diagnostics: str) -> None:
        super().__init__(f"{status_code}: {diagnostics}")
        self.status_code = status_code
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class PartnerKey:
    """The app's signing key. Generate it once, keep the private half in your secret store
    (``private_pem``), and give Rapport's admin only ``jwks()``."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> PartnerKey:
        """A new EC P-384 key (ES384) with a random ``kid``."""
        return cls(kid=uuid.uuid4().hex, private_key=ec.generate_private_key(ec.SECP384R1()))

    @classmethod
    def from_pem(cls, kid: str, pem: bytes) -> PartnerKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("expected an EC P-384 private key")
        return cls(kid=kid, private_key=key)

    def private_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def jwks(self) -> dict[str, Any]:
        """The public key as a JWKS, what Rapport's admin registers for the app."""
        public = ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}]}

    def client_assertion(self, client_id: str, token_endpoint: str) -> str:
        """A signed assertion for one token request (its ``jti`` is never used again)."""
        now = int(time.time())
        claims = {
            "iss": client_id,
            "sub": client_id,
            "aud": token_endpoint,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
        }
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})


@dataclass
class ClientResources:
    """What the partner read about one client."""

    patient: dict[str, Any]
    appointments: list[dict[str, Any]]


@dataclass
class SmartBackendClient:
    """Tokens and FHIR reads for one partner app.

    ``rapport_url`` is Rapport's public base URL; ``scopes`` what the app asks for, e.g.
    ``system/Patient.rs system/Appointment.rs``, plus any partner scope it also needs
    (``webhooks:manage``). ``page_size`` is the ``_count`` of each search page.
    """

    rapport_url: str
    client_id: str
    key: PartnerKey
    scopes: Sequence[str]
    page_size: int = 50
    _token_endpoint: str | None = None
    _token: str | None = None
    _token_renew_at: float = 0.0
    # One token request at a time: concurrent callers wait for it rather than each asking.
    _token_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def access_token(self) -> str:
        """A bearer token, the kept one while it has more than a minute left."""
        async with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_renew_at:
                self._token, expires_in = await self._request_token()
                self._token_renew_at = time.monotonic() + expires_in - TOKEN_RENEWAL_MARGIN_SECONDS
            return self._token

    async def token_endpoint(self) -> str:
        """Where to ask for tokens, from the SMART discovery document."""
        if self._token_endpoint is None:
            async with httpx.AsyncClient(timeout=15) as http:
                response = await http.get(f"{self.rapport_url}/.well-known/smart-configuration")
                response.raise_for_status()
            configuration = response.json()
            if "private_key_jwt" not in configuration["token_endpoint_auth_methods_supported"]:
                raise RuntimeError("this server does not take signed client assertions")
            self._token_endpoint = str(configuration["token_endpoint"])
        return self._token_endpoint

    async def _request_token(self) -> tuple[str, int]:
        endpoint = await self.token_endpoint()
        async with httpx.AsyncClient(timeout=15) as http:
            response = await http.post(
                endpoint,
                data={
                    "grant_type": "client_credentials",
                    "scope": " ".join(self.scopes),
                    "client_assertion_type": ASSERTION_TYPE,
                    "client_assertion": self.key.client_assertion(self.client_id, endpoint),
                },
            )
        body = response.json()
        if response.status_code != 200:
            raise TokenRequestRefused(
                response.status_code, body.get("error", ""), body.get("error_description", "")
            )
        return str(body["access_token"]), int(body["expires_in"])

    async def read(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        """``GET /fhir/{type}/{id}``."""
        return await self._get(f"{self.rapport_url}/fhir/{resource_type}/{resource_id}")

    async def search(self, resource_type: str, **parameters: str) -> list[dict[str, Any]]:
        """Every resource a search matches, page after page by the Bundles' ``next`` links.

        Pages follow creation order, but they are read one after the other, not as one
        snapshot: a resource that stops matching the search in between (cancelled, in a
        search for booked ones) shifts the later pages, so another may come twice (kept once
        here) or not at all. For what a webhook names, :meth:`read` it by id.
        """
        url: str | None = f"{self.rapport_url}/fhir/{resource_type}"
        params: dict[str, str] | None = {**parameters, "_count": str(self.page_size)}
        found: dict[str, dict[str, Any]] = {}
        while url is not None:
            bundle = await self._get(url, params)
            for entry in bundle.get("entry", []):
                found[entry["resource"]["id"]] = entry["resource"]
            # The next link carries the whole query (and the page's position) itself.
            url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
            params = None
        return list(found.values())

    async def client_resources(self, patient_id: str) -> ClientResources:
        """The client as a Patient, and every appointment of theirs the app may see."""
        return ClientResources(
            patient=await self.read("Patient", patient_id),
            appointments=await self.search("Appointment", patient=patient_id),
        )

    async def _get(self, url: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=15) as http:
            for attempt in range(2):
                response = await http.get(
                    url,
                    params=params,
                    headers={
                        "Authorization": f"Bearer {await self.access_token()}",
                        "Accept": FHIR_JSON,
                    },
                )
                # A token can stop working before it expires (the app's keys or grants
                # changed): get a new one, once.
                if response.status_code == 401 and attempt == 0:
                    self._token = None
                    continue
                break
        if response.status_code >= 400:
            raise FhirError(response.status_code, _diagnostics(response))
        resource: dict[str, Any] = response.json()
        return resource


def _diagnostics(response: httpx.Response) -> str:
    try:
        outcome = response.json()
    except ValueError:
        return response.text[:200]
    if outcome.get("resourceType") != "OperationOutcome":
        return response.text[:200]
    return "; ".join(
        issue.get("diagnostics") or issue.get("code", "") for issue in outcome.get("issue", [])
    )
