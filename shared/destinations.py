"""Where partners' URLs may send us: http(s) URLs whose host resolves to public addresses only.

This is the server-side request forgery guard, for webhook endpoints (services.webhooks) and
partners' JWKS URLs (identity). Without it a partner could point an endpoint at the cloud
metadata service, the database, or anything else on our private network, and read the
answers in the delivery log. The check runs at registration and again before every
attempt, because a name's addresses can change after it was registered; an attempt then
connects to the address it checked (:meth:`DestinationPolicy.pin`), not to whatever a second
lookup answers, so a name that rebinds between the two lookups cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from shared.errors import InvalidRequest

RESOLVE_TIMEOUT_SECONDS = 5.0


class DestinationRefused(InvalidRequest):
    """A URL that is not http(s) or points at an address partners may not reach."""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is a globally routable unicast address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1; judge the IPv4 address it wraps.
        address = address.ipv4_mapped
    return address.is_global and not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def parse_destination(url: str) -> tuple[str, int]:
    """The host and port of an http(s) URL, or :class:`DestinationRefused` saying what is wrong."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise DestinationRefused("the URL must start with http:// or https://")
    if not parts.hostname:
        raise DestinationRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("the URL must not carry credentials")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True)
class PinnedDestination:
    """A checked destination: connect to ``address`` on behalf of ``host``.

    ``address`` is None when no address was checked (private URLs allowed, or a host the
    operator allows by name): the attempt then resolves the name itself.
    """

    host: str
    port: int
    address: IPAddress | None


@dataclass(frozen=True)
class DestinationPolicy:
    """The operator's rule for endpoint URLs.

    ``allow_private`` turns the address check off entirely (local development);
    ``allowed`` names hosts (``hooks.internal``) or ranges (``10.1.0.0/16``, ``::1``) that are
    accepted although private; ``require_https`` (production) refuses plain http.
    """

    allow_private: bool = False
    require_https: bool = False
    allowed: tuple[str, ...] = ()
    # How host names become addresses (the system resolver; tests stand in a fake DNS).
    resolver: Resolver | None = None

    def _allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        networks = []
        for entry in self.allowed:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a host name, matched by name
        return networks

    async def check(self, url: str) -> None:
        """Raise :class:`DestinationRefused` unless webhooks may be sent to ``url``."""
        await self.pin(url)

    async def pin(self, url: str) -> PinnedDestination:
        """Check ``url`` (as :meth:`check`) and name the address an attempt must connect to.

        Every address the name resolves to must pass; the first is the one pinned.
        """
        host, port = parse_destination(url)
        if self.require_https and urlsplit(url).scheme != "https":
            raise DestinationRefused("the URL must start with https://")
        if self.allow_private or host.lower().rstrip(".") in {a.lower() for a in self.allowed}:
            return PinnedDestination(host, port, None)
        networks = self._allowed_networks()
        resolve = self.resolver or self._resolve
        addresses = await resolve(host, port)
        if not addresses:
            raise DestinationRefused(f"the host {host} does not resolve")
        for address in addresses:
            if is_public(address) or any(address in network for network in networks):
                continue
            shown = f"{host} resolves to {address}" if str(address) != host else host
            raise DestinationRefused(
                f"{shown}, which is not a public address (loopback, private, link-local, "
                "multicast, reserved and cloud metadata addresses are refused)"
            )
        return PinnedDestination(host, port, addresses[0])

    @staticmethod
    async def _resolve(host: str, port: int) -> list[IPAddress]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise DestinationRefused(f"the host {host} does not resolve") from exc
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _name, sockaddr in infos:
            # Drop an IPv6 zone ("fe80::1%eth0"); the address itself decides.
            addresses.append(ipaddress.ip_address(str(sockaddr[0]).split("%")[0]))
        if not addresses:
            raise DestinationRefused(f"the host {host} does not resolve")
        return addresses


def pinned_request(
    url: str, destination: PinnedDestination
) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The URL, extra headers and httpx extensions that send ``url`` to the checked address.

    The URL names the address itself, so the client never looks the name up again (a second
    lookup is where a rebinding name would answer 127.0.0.1). The Host header and the TLS
    server name, which the certificate is verified against, stay the URL's host; the TLS
    name goes through httpx's documented ``sni_hostname`` request extension.
    """
    target = httpx.URL(url)
    if destination.address is None or target.host == str(destination.address):
        return target, {}, {}
    headers = {
        "host": target.netloc.decode("ascii"),
        # The connection pool knows connections by address, not by name: a TLS connection
        # verified for one name must not carry another name's delivery to the same address.
        "connection": "close",
    }
    return (
        target.copy_with(host=str(destination.address)),
        headers,
        {"sni_hostname": target.raw_host.decode("ascii")},
    )
