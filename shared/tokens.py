"""Verifying access tokens issued by identity, with the public keys from its JWKS only.

Verification is the hot path of every request, so it is made cheap: keys are cached by kid
(refetched when an unknown kid shows up, at most once per ``min_refresh_seconds``), and a
verified token's claims are cached until the token expires.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.errors import Forbidden, Unauthorized

# Asymmetric algorithms only: "none" and HMAC (which would let a public key act as a secret)
# are refused before any key is looked up.
ALLOWED_ALGORITHMS = ("EdDSA", "ES256")
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]
# Identity's private claim naming the sign-in (refresh-token family) a user's access token was
# minted from; signaling tokens copy it from the access token they were requested with. A
# logout revokes one family, and with it exactly the tokens carrying its id.
FAMILY_CLAIM = "fid"
# The role of a guest token: someone without an account (an interpreter, a family member)
# whom a clinician let into one session's call, and into nothing else.
GUEST_ROLE = "guest"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as a verified token says."""

    subject: str
    role: str
    scopes: frozenset[str]
    token_id: str
    expires_at: int
    session_id: uuid.UUID | None = None
    # The sign-in (refresh-token family) the token was minted from; None for tokens that
    # belong to no sign-in (a partner app's client credentials, tokens older than the claim).
    family_id: uuid.UUID | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def user_id(self) -> uuid.UUID:
        try:
            return uuid.UUID(self.subject)
        except ValueError as exc:
            raise Forbidden("this token does not belong to a user") from exc

    def require_role(self, *roles: str) -> None:
        if self.role not in roles:
            raise Forbidden(f"requires role {' or '.join(roles)}")


class KeySource(Protocol):
    async def get(self, kid: str) -> jwt.PyJWK | None: ...


class JwksKeySource:
    """Public keys fetched from identity's /.well-known/jwks.json over HTTP.

    Identity signs with a new key the moment it rotates, so a kid not held here is first of all
    a reason to fetch again: the new key's tokens pass at once, however recently the keys were
    fetched. What is limited is the fetching for kids that then stay unknown (made up, or of
    another issuer): after such a miss, unknown kids are refused without a fetch for
    ``min_refresh_seconds``, so a flood of them costs identity one request per interval.
    Concurrent lookups share one fetch.
    """

    def __init__(
        self,
        url: str,
        *,
        min_refresh_seconds: float = 10.0,
        max_age_seconds: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._clock = clock
        self._fetched_at = -math.inf
        # When a fetch last left the kid it was made for unknown.
        self._missed_at = -math.inf
        self._min_refresh = min_refresh_seconds
        # Keys removed from the JWKS (retired, or compromised) must stop verifying here too.
        self._max_age = max_age_seconds
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> jwt.PyJWK | None:
        key = self._keys.get(kid)
        if key is not None and self._clock() - self._fetched_at < self._max_age:
            return key
        async with self._lock:
            now = self._clock()
            stale = now - self._fetched_at >= self._max_age
            unknown = kid not in self._keys
            if stale or (unknown and now - self._missed_at >= self._min_refresh):
                try:
                    await self._refresh()
                finally:
                    if kid not in self._keys:
                        self._missed_at = self._clock()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=5.0) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                keyset = jwt.PyJWKSet.from_dict(response.json())
        except (httpx.HTTPError, jwt.PyJWKSetError, ValueError) as exc:
            # Unknown keys stay unknown; tokens signed by them are refused until a fetch works.
            raise Unauthorized("token keys are unavailable right now") from exc
        finally:
            self._fetched_at = self._clock()
        self._keys = {k.key_id: k for k in keyset.keys if k.key_id}


class StaticKeySource:
    """Keys handed over directly (identity verifying its own tokens, tests)."""

    def __init__(self, keys: dict[str, jwt.PyJWK]) -> None:
        self.keys = keys

    async def get(self, kid: str) -> jwt.PyJWK | None:
        return self.keys.get(kid)


class TokenVerifier:
    """Verifies a bearer token and turns it into a :class:`Principal`."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        cache_size: int = 10_000,
        family_memory_seconds: float = 3600.0,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._cache: OrderedDict[tuple[str, str], Principal] = OrderedDict()
        self._cache_size = cache_size
        self._revoked_subjects: dict[str, float] = {}
        # Every logout adds one; a revoked family is forgotten once it is older than any token
        # lives (no token of it can still be valid), so the map stays as small as the logouts
        # of the last hour. Kept in order of revocation, so forgetting pops from the front.
        self._revoked_families: OrderedDict[uuid.UUID, float] = OrderedDict()
        self._family_memory = family_memory_seconds

    def revoke_subject(self, subject: str, before: float | None = None) -> None:
        """Refuse tokens of ``subject`` issued before ``before`` (default: now)."""
        self._revoked_subjects[subject] = before if before is not None else time.time()
        self._forget_cached(lambda principal: principal.subject == subject)

    def revoke_family(self, family_id: uuid.UUID, at: float | None = None) -> None:
        """Refuse every token minted from the sign-in ``family_id`` (revoked at ``at``).

        Unlike a subject's revocation this has no time bound: identity mints nothing from a
        revoked family, so any token carrying its id is one of the ended sign-in's.
        """
        at = at if at is not None else time.time()
        self._revoked_families[family_id] = at
        self._revoked_families.move_to_end(family_id)
        forget_before = time.time() - self._family_memory
        while self._revoked_families:
            oldest, revoked_at = next(iter(self._revoked_families.items()))
            if revoked_at >= forget_before or oldest == family_id:
                break
            del self._revoked_families[oldest]
        self._forget_cached(lambda principal: principal.family_id == family_id)

    def _forget_cached(self, revoked: Callable[[Principal], bool]) -> None:
        for cache_key in [k for k, p in self._cache.items() if revoked(p)]:
            del self._cache[cache_key]

    async def verify(self, token: str, *, audience: str | None = None) -> Principal:
        """Return the principal of a valid token, or raise :class:`Unauthorized`."""
        audience = audience or self._audience
        cache_key = (audience, token)
        cached = self._cache.get(cache_key)
        if cached is not None and cached.expires_at > time.time():
            self._cache.move_to_end(cache_key)
            return cached
        principal = await self._verify(token, audience)
        self._cache[cache_key] = principal
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def _verify(self, token: str, audience: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise Unauthorized("malformed token") from exc
        algorithm = header.get("alg")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise Unauthorized(f"token algorithm {algorithm!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("token has no key id")
        key = await self._keys.get(kid)
        if key is None:
            raise Unauthorized("token signed by an unknown key")
        if key.algorithm_name != algorithm:
            raise Unauthorized("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=[algorithm],
                audience=audience,
                issuer=self._issuer,
                options={"require": REQUIRED_CLAIMS},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        revoked_before = self._revoked_subjects.get(str(claims["sub"]))
        if revoked_before is not None and claims["iat"] <= revoked_before:
            raise Unauthorized("token revoked")
        session_id = _uuid_claim(claims, "sid")
        family_id = _uuid_claim(claims, FAMILY_CLAIM)
        if family_id is not None and family_id in self._revoked_families:
            raise Unauthorized("token revoked")
        return Principal(
            subject=str(claims["sub"]),
            role=str(claims.get("role", "")),
            scopes=frozenset(str(claims.get("scope", "")).split()),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            session_id=session_id,
            family_id=family_id,
            claims=claims,
        )


def _uuid_claim(claims: dict[str, Any], name: str) -> uuid.UUID | None:
    value = claims.get(name)
    if not value:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise Unauthorized(f"invalid {name} claim") from exc


_bearer = HTTPBearer(auto_error=False)


async def bearer_principal(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    """Whoever the bearer token names, guests included (signaling's routes take theirs)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthorized("missing bearer token")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(credentials.credentials)


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """FastAPI dependency: the verified caller, from ``Authorization: Bearer <token>``.

    A guest's token is refused here, on every API route of every service: it is good for
    joining its session's call over signaling, and guests see no records, goals or notes.
    """
    principal = await bearer_principal(request, credentials)
    if principal.role == GUEST_ROLE:
        raise Forbidden("a guest token only joins its own session's call")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
