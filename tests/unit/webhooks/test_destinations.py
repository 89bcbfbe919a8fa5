"""The SSRF guard: which URLs and addresses webhooks may go to."""

from __future__ import annotations

import ipaddress

import pytest

from services.webhooks.destinations import (
    DestinationPolicy,
    IPAddress,
    Resolver,
    is_public,
    parse_destination,
)
from services.webhooks.errors import DestinationRefused
from tests.unit.webhooks.conftest import StartService


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


REFUSED_URLS = [
    "http://127.0.0.1/hooks",
    "http://localhost/hooks",
    "http://[::1]/hooks",
    "http://10.0.0.1/hooks",
    "http://172.16.0.1/hooks",
    "http://192.168.1.1/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/hooks",
    "http://2130706433/hooks",  # 127.0.0.1 in decimal
    "http://0x7f000001/hooks",  # 127.0.0.1 in hex
    "http://0x7f.0.0.1/hooks",  # dotted hex
    "http://0177.0.0.1/hooks",  # dotted octal
    "http://127.1/hooks",  # short form
    "http://[::ffff:127.0.0.1]/hooks",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/hooks",  # 169.254.169.254, mapped, in hex
    "http://[fd00:ec2::254]/hooks",  # the AWS metadata service over IPv6
    "http://[fe80::1]/hooks",
    "http://[ff02::1]/hooks",
    "http://224.0.0.1/hooks",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_private_loopback_link_local_and_metadata_destinations_are_refused(
    url: str,
) -> None:
    with pytest.raises(DestinationRefused, match="not a public address"):
        await DestinationPolicy(allow_private=False).check(url)


def fake_dns(records: dict[str, list[str]]) -> Resolver:
    """A stand-in for the DNS server: names resolve to the addresses given."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(a) for a in records.get(host, [host])]

    return resolve


async def test_a_name_that_resolves_to_a_private_address_is_refused() -> None:
    policy = DestinationPolicy(
        resolver=fake_dns(
            {
                "partner.example": ["93.184.216.34"],
                "internal.partner.example": ["10.1.2.3"],
                # One private answer among public ones is enough to refuse (DNS rebinding).
                "mixed.partner.example": ["93.184.216.34", "169.254.169.254"],
            }
        )
    )

    await policy.check("https://partner.example/hooks")
    with pytest.raises(DestinationRefused, match=r"internal\.partner\.example resolves to 10"):
        await policy.check("https://internal.partner.example/hooks")
    with pytest.raises(DestinationRefused, match="169.254.169.254"):
        await policy.check("https://mixed.partner.example/hooks")


async def test_an_operator_may_allow_named_hosts_and_ranges() -> None:
    policy = DestinationPolicy(
        allowed=("hooks.internal", "10.1.0.0/16"),
        resolver=fake_dns({"hooks.internal": ["10.9.9.9"], "ehr.internal": ["10.1.4.4"]}),
    )

    await policy.check("http://hooks.internal/x")
    await policy.check("http://ehr.internal/x")
    await policy.check("http://10.1.0.7/x")
    with pytest.raises(DestinationRefused):
        await policy.check("http://10.2.0.7/x")


async def test_production_accepts_only_https() -> None:
    policy = DestinationPolicy(require_https=True, resolver=fake_dns({"p.example": ["8.8.8.8"]}))

    await policy.check("https://p.example/hooks")
    with pytest.raises(DestinationRefused, match="https://"):
        await policy.check("http://p.example/hooks")


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_registration_refuses_them_with_a_clear_error(
    start_service: StartService, url: str
) -> None:
    webhooks = await start_service(background=False, allow_private_urls=False)

    response = await webhooks.http.post(
        "/v1/webhook-endpoints",
        json={"url": url, "event_types": ["*"]},
        headers=webhooks.auth(),
    )

    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "DestinationRefused"
    assert "not a public address" in body["detail"]
