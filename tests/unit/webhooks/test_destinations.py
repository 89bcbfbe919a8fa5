"""The SSRF guard: which URLs and addresses webhooks may go to."""

from __future__ import annotations

import ipaddress

import pytest

from services.webhooks.destinations import DestinationPolicy, is_public, parse_destination
from services.webhooks.errors import DestinationRefused


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.0.0.1", False),
        ("172.31.255.255", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
    ],
)
def test_only_global_unicast_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("https://partner.example/hooks", "partner.example", 443),
        ("http://partner.example/hooks", "partner.example", 80),
        ("https://partner.example:8443/hooks?x=1", "partner.example", 8443),
        ("http://[2001:db8::1]:8080/", "2001:db8::1", 8080),
    ],
)
def test_http_urls_are_parsed_into_host_and_port(url: str, host: str, port: int) -> None:
    assert parse_destination(url) == (host, port)


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(DestinationRefused, match="does not resolve"):
        await DestinationPolicy(allow_private=False).check("https://no-such-host.invalid/hooks")


async def test_allowing_private_urls_still_requires_http() -> None:
    policy = DestinationPolicy(allow_private=True)

    await policy.check("http://127.0.0.1:9/hooks")
    with pytest.raises(DestinationRefused, match="http"):
        await policy.check("file:///etc/passwd")
