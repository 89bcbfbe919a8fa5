"""Partner apps' public keys (SMART backend services): a JWKS held inline or fetched from the
app's JWKS URL through the shared SSRF guard, cached briefly, fetched again for an unknown kid.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt
from jwt.exceptions import PyJWKError

from services.identity.partners.assertions import PartnerKey
from shared.destinations import DestinationPolicy, DestinationRefused, pinned_request

MIN_RSA_BITS = 2048
MAX_KEYS = 20
MAX_JWKS_BYTES = 64 * 1024
FETCH_TIMEOUT_SECONDS = 5.0
# A fetched JWKS is reused this long; a kid not in it triggers one refetch at most this often.
CACHE_SECONDS = 300.0
REFETCH_SECONDS = 10.0


class InvalidJwks(ValueError):
    """A JWKS that is not a set of usable RS384/ES384 public keys."""


def parse_jwks(jwks: Mapping[str, Any]) -> dict[str, PartnerKey]:
    """The usable keys of ``jwks`` by kid.

    Every key needs a ``kid``, an RSA (≥ 2048 bits) or EC P-384 public key, and no private
    part; keys whose ``use`` is not ``sig`` or whose ``alg`` is not RS384/ES384 are left out
    (a JWKS URL may publish other keys beside them).

    Raises:
        InvalidJwks: not a JWKS, a key is malformed or private, or no key is usable.
    """
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list) or not keys:
        raise InvalidJwks('a JWKS is an object with a non-empty "keys" array')
    if len(keys) > MAX_KEYS:
        raise InvalidJwks(f"a JWKS may hold at most {MAX_KEYS} keys")
    usable: dict[str, PartnerKey] = {}
    for entry in keys:
        if not isinstance(entry, Mapping):
            raise InvalidJwks("each key must be a JSON object")
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or len(kid) > 255:
            raise InvalidJwks('each key needs a "kid" (a non-empty string)')
        if any(part in entry for part in ("d", "p", "q", "k")):
            raise InvalidJwks(f"key {kid} holds a private or symmetric part: publish public keys")
        if entry.get("use", "sig") != "sig":
            continue
        algorithm = _algorithm(entry)
        if algorithm is None:
            continue
        try:
            key = jwt.PyJWK(dict(entry), algorithm=algorithm).key
        except (PyJWKError, ValueError, TypeError) as exc:
            raise InvalidJwks(f"key {kid} is not a valid {algorithm} public key") from exc
        if algorithm == "RS384" and key.key_size < MIN_RSA_BITS:
            raise InvalidJwks(f"key {kid}: RSA keys must have at least {MIN_RSA_BITS} bits")
        if kid in usable:
            raise InvalidJwks(f"kid {kid} appears twice")
        usable[kid] = PartnerKey(kid=kid, algorithm=algorithm, key=key)
    if not usable:
        raise InvalidJwks("no RS384 or ES384 signing key (RSA, or EC on P-384) in the JWKS")
    return usable


def _algorithm(entry: Mapping[str, Any]) -> str | None:
    kty, alg = entry.get("kty"), entry.get("alg")
    if kty == "RSA":
        found = "RS384"
    elif kty == "EC" and entry.get("crv") == "P-384":
        found = "ES384"
    else:
        return None
    return found if alg in (None, found) else None


class JwksFetcher:
    """Fetches partners' JWKS URLs (SSRF-guarded, bounded in size and time) and caches them."""

    def __init__(
        self,
        destinations: DestinationPolicy,
        client: httpx.AsyncClient | None = None,
        *,
        refetch_seconds: float = REFETCH_SECONDS,
    ) -> None:
        self._destinations = destinations
        self._refetch_seconds = refetch_seconds
        # Redirects are not followed: the guard checked this URL, not wherever it points.
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        # url -> (fetched at, keys); a refetch replaces the entry.
        self._cache: dict[str, tuple[float, dict[str, PartnerKey]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def aclose(self) -> None:
        """Close the HTTP client (at shutdown)."""
        await self._client.aclose()

    async def check(self, url: str) -> None:
        """Raise :class:`DestinationRefused` unless identity may fetch ``url``."""
        await self._destinations.check(url)

    async def keys(self, url: str, *, kid: str) -> dict[str, PartnerKey]:
        """The keys published at ``url``, fetched again when ``kid`` is not among the cached
        ones (at most once per :data:`REFETCH_SECONDS`), so a partner's key rotation works.

        Raises:
            InvalidJwks: the URL is refused, unreachable, or serves no usable JWKS.
        """
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            now = time.monotonic()
            cached = self._cache.get(url)
            if cached is not None:
                age = now - cached[0]
                if age < CACHE_SECONDS and (kid in cached[1] or age < self._refetch_seconds):
                    return cached[1]
            keys = await self._fetch(url)
            self._cache[url] = (time.monotonic(), keys)
            return keys

    async def _fetch(self, url: str) -> dict[str, PartnerKey]:
        try:
            destination = await self._destinations.pin(url)
        except DestinationRefused as exc:
            raise InvalidJwks(f"the JWKS URL is refused: {exc.detail}") from exc
        target, headers, extensions = pinned_request(url, destination)
        headers["accept"] = "application/json, application/jwk-set+json"
        try:
            async with asyncio.timeout(FETCH_TIMEOUT_SECONDS):
                async with self._client.stream(
                    "GET", target, headers=headers, extensions=extensions
                ) as response:
                    if response.status_code != 200:
                        raise InvalidJwks(f"the JWKS URL answered {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body.extend(chunk)
                        if len(body) > MAX_JWKS_BYTES:
                            raise InvalidJwks("the JWKS is too large")
        except (httpx.HTTPError, TimeoutError) as exc:
            raise InvalidJwks(f"the JWKS URL could not be fetched ({type(exc).__name__})") from exc
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise InvalidJwks("the JWKS URL did not serve JSON") from exc
        return parse_jwks(document)
