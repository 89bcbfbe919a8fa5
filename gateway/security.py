"""Edge security: the access-token check and the security headers on every response.

The token check is a first gate, not the only one: the Authorization header is forwarded as
it came and every service verifies it again (defence in depth).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from shared.errors import Unauthorized
from shared.logging import sane_request_id
from shared.tokens import Principal, TokenVerifier

RawHeaders = list[tuple[bytes, bytes]]

# API responses are JSON: nothing in them may load, frame, or be framed.
API_CONTENT_SECURITY_POLICY = (
    b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class EdgeAuthenticator:
    """Checks the bearer token of a request before it is routed to a protected service."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def authenticate(self, headers: RawHeaders) -> Principal:
        """The verified caller, or :class:`Unauthorized` when the token is missing or bad."""
        authorization = next((v for k, v in headers if k == b"authorization"), None)
        if authorization is None:
            raise Unauthorized("missing bearer token")
        scheme, _, token = authorization.decode("latin-1").strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("missing bearer token")
        return await self._verifier.verify(token)


class SecurityHeaders:
    """The headers every response leaves the gateway with.

    They replace whatever an upstream set under the same names, except Cache-Control, which
    is only added (``no-store``: health data must not sit in shared caches) when absent. CORS
    and HSTS headers are the edge's alone: an upstream's are dropped, and the edge adds its
    own (:meth:`over_tls`, the CORS policy) to what :meth:`apply` returns.
    """

    def __init__(self, *, hsts_max_age_seconds: int | None = 0) -> None:
        enforced: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"content-security-policy", API_CONTENT_SECURITY_POLICY),
        ]
        self._enforced = tuple(enforced)
        self._enforced_names = frozenset(name for name, _ in enforced) | {
            b"strict-transport-security"
        }
        self._over_tls: tuple[tuple[bytes, bytes], ...] = ()
        if hsts_max_age_seconds:
            hsts = f"max-age={hsts_max_age_seconds}".encode()
            self._over_tls = ((b"strict-transport-security", hsts),)

    def over_tls(self, tls: bool) -> tuple[tuple[bytes, bytes], ...]:
        """Strict-Transport-Security, for a response served over TLS only.

        Over plain HTTP browsers ignore it at best; at worst a proxy that strips TLS would pin
        the name to HTTPS for clients that then cannot reach it.
        """
        return self._over_tls if tls else ()

    def apply(self, headers: Sequence[tuple[bytes, bytes]], request_id: bytes) -> RawHeaders:
        """``headers`` with the security headers enforced and the request id echoed."""
        result: RawHeaders = []
        has_cache_control = has_request_id = False
        for name, value in headers:
            lower = name.lower()
            if lower in self._enforced_names or lower.startswith(b"access-control-"):
                continue
            if lower == b"cache-control":
                has_cache_control = True
            elif lower == b"x-request-id":
                has_request_id = True
            result.append((name, value))
        result.extend(self._enforced)
        if not has_cache_control:
            result.append((b"cache-control", b"no-store"))
        if not has_request_id:
            result.append((b"x-request-id", request_id))
        return result


def request_id_of(headers: RawHeaders) -> str:
    """The client's X-Request-ID when it is a sane token, otherwise a fresh one."""
    for name, value in headers:
        if name == b"x-request-id":
            return sane_request_id(value) or uuid.uuid4().hex
    return uuid.uuid4().hex
