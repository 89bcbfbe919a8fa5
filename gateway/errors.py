"""Errors the gateway raises itself; the shared handlers render them like every other error."""

from __future__ import annotations

from shared import errors


class UpstreamUnavailable(errors.ServiceUnavailable):
    """The service behind a route could not be reached or did not answer properly.

    503 when no connection could be made (nothing reached the service, so a retry is safe),
    504 when it did not answer in time, 502 when it broke off or answered with garbage.
    """

    def __init__(self, upstream: str, detail: str, *, status_code: int = 503) -> None:
        super().__init__(detail, upstream=upstream)
        self.status_code = status_code


class GatewayShuttingDown(errors.ServiceUnavailable):
    """The gateway is shutting down: a WebSocket handshake it still held is refused (503)."""


class RateLimited(errors.RateLimited):
    """Too many attempts from one address; ``Retry-After`` says when to try again."""

    def __init__(self, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(
            detail,
            headers={"Retry-After": str(retry_after_seconds)},
            retry_after_seconds=retry_after_seconds,
        )


class UpgradeRequired(errors.RapportError):
    """A WebSocket-only route was called over plain HTTP."""

    status_code = 426

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Upgrade": "websocket"})


class MethodNotAllowed(errors.RapportError):
    """A method a public endpoint does not take (it would otherwise need a token first)."""

    status_code = 405

    def __init__(self, allowed: frozenset[str]) -> None:
        super().__init__(
            "this endpoint does not take this method",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
