"""Cross-origin access for partner web apps, decided at the edge.

Only origins on the configured allow-list get CORS headers; the default list is empty, since
the pages the gateway serves are on its own origin and need none. Preflights are answered here
(no service sees them, and they carry no token to check). Credentials (cookies) are never
allowed together with the wildcard: that would hand any site the user's session.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import Forbidden

RawHeaders = list[tuple[bytes, bytes]]
HeaderPairs = tuple[tuple[bytes, bytes], ...]

_MEMO_LIMIT = 1024

ALLOWED_METHODS: tuple[bytes, ...] = (b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE")
# Request headers a cross-origin script may send (besides the CORS-safelisted ones).
ALLOWED_HEADERS: tuple[bytes, ...] = (b"authorization", b"content-type", b"x-request-id")
# Response headers such a script may read (besides the CORS-safelisted ones).
EXPOSED_HEADERS: tuple[bytes, ...] = (b"location", b"retry-after", b"x-request-id")


class CrossOriginRefused(Forbidden):
    """A preflight from an origin, or asking for a method or header, that is not allowed."""


class CorsPolicy:
    """Which origins may call the API from a browser, and the headers that say so."""

    def __init__(
        self,
        origins: Sequence[str],
        *,
        allow_credentials: bool = False,
        max_age_seconds: int = 600,
    ) -> None:
        self._any = "*" in origins
        if self._any and allow_credentials:
            raise ValueError("CORS credentials cannot be allowed for every origin")
        self._origins = frozenset(o.encode("ascii") for o in origins if o != "*")
        self._credentials = allow_credentials
        self.enabled = bool(origins)
        common: RawHeaders = []
        if not self._any:
            # The answer depends on the Origin header, so caches must key on it.
            common.append((b"vary", b"Origin"))
        if allow_credentials:
            common.append((b"access-control-allow-credentials", b"true"))
        self._common: HeaderPairs = tuple(common)
        self._answers: dict[bytes, HeaderPairs] = {}
        self._exposed = (b"access-control-expose-headers", b", ".join(EXPOSED_HEADERS))
        self._preflight = (
            (b"access-control-allow-methods", b", ".join(ALLOWED_METHODS)),
            (b"access-control-allow-headers", b", ".join(ALLOWED_HEADERS)),
            (b"access-control-max-age", str(max_age_seconds).encode()),
        )

    def allows(self, origin: bytes) -> bool:
        """True when a page on ``origin`` may read the API's answers."""
        return self._any or origin.lower() in self._origins

    def response_headers(self, origin: bytes | None) -> HeaderPairs:
        """The CORS headers for an actual (non-preflight) request from ``origin``."""
        if not self.enabled:
            return ()
        if origin is None:
            return self._common
        known = self._answers.get(origin)
        if known is not None:
            return known
        if not self.allows(origin):
            return self._common
        answer = (self._allow_origin(origin), *self._common, self._exposed)
        # Per allowed origin, computed once; with the wildcard any origin is allowed, so the
        # memo is capped.
        if len(self._answers) < _MEMO_LIMIT:
            self._answers[origin] = answer
        return answer

    def preflight_headers(
        self, origin: bytes, method: bytes, requested_headers: bytes | None
    ) -> RawHeaders:
        """The answer to a preflight, or :class:`CrossOriginRefused`."""
        if not self.allows(origin):
            raise CrossOriginRefused("cross-origin requests from this origin are not allowed")
        if method.strip().upper() not in ALLOWED_METHODS:
            raise CrossOriginRefused("this method is not allowed cross-origin")
        for name in (requested_headers or b"").split(b","):
            name = name.strip().lower()
            if name and name not in ALLOWED_HEADERS:
                raise CrossOriginRefused(
                    f"header {name.decode('latin-1')!r} is not allowed cross-origin"
                )
        return [
            self._allow_origin(origin),
            *self._common,
            *self._preflight,
        ]

    def _allow_origin(self, origin: bytes) -> tuple[bytes, bytes]:
        if self._any and not self._credentials:
            return (b"access-control-allow-origin", b"*")
        return (b"access-control-allow-origin", origin)
