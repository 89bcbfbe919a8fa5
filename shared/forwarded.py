"""Whose word counts for the client's address: X-Forwarded-For only from a trusted proxy.

Every process (the gateway and each service) applies the same policy to the connection before
anything reads the client's address: when the peer is one of the configured proxies, the
address and scheme it reports in ``X-Forwarded-For`` / ``X-Forwarded-Proto`` replace the
connection's own (the right-most address not itself a trusted proxy, so a client cannot prepend
a fake one); from anyone else the headers are ignored. With no proxies configured (the default)
nobody's headers are believed. Code then reads ``request.client`` (``scope["client"]``), never
the headers.

uvicorn's ``ProxyHeadersMiddleware`` implements exactly these rules and is kept with the server;
it runs inside the app rather than as uvicorn's ``proxy_headers`` option so that in-process
tests exercise it too, and because that option defaults to trusting 127.0.0.1. What uvicorn does
not do is reject a malformed entry (it silently becomes a literal that never matches), so the
setting is checked here and a typo stops the process at start.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator
from pydantic_settings import NoDecode
from starlette.applications import Starlette
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

ANY_PROXY = "*"


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _check(entries: list[str]) -> list[str]:
    for entry in entries:
        if entry == ANY_PROXY:
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"not an IP address or network: {entry!r} (comma-separated, or '*' for any)"
            ) from None
    if ANY_PROXY in entries and len(entries) > 1:
        raise ValueError("'*' trusts every peer; list it alone")
    return entries


TrustedProxies = Annotated[list[str], NoDecode, BeforeValidator(_split), AfterValidator(_check)]
"""A settings field: proxies (IPs or networks, comma-separated in the environment; ``*`` for
any) whose forwarded headers are believed. Empty: nobody's."""


def install_trusted_proxies(app: Starlette, trusted_proxies: list[str]) -> None:
    """Put the policy in front of everything ``app`` has so far (add it last)."""
    if trusted_proxies:  # else the connection's own address stands: nothing to do
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies))
