"""X-Forwarded-* through a real gateway process: believed only from a configured proxy.

The trusted-proxy policy (``trusted_proxies``, shared/forwarded.py) runs in front of the edge,
and uvicorn must not apply its own as well, so this runs ``python -m gateway`` as deployed.
The test client connects from 127.0.0.1: a client when no proxy is configured (or another one
is), the proxy when 127.0.0.1 is configured.
"""

from __future__ import annotations

import httpx
import pytest

from tests.integration.gateway.conftest import GatewayProcesses, Process

SPOOFED = {"X-Forwarded-For": "1.2.3.4", "X-Forwarded-Proto": "https"}


@pytest.fixture(scope="module")
def untrusting(gateways: GatewayProcesses) -> Process:
    return gateways.start(login_burst="2", login_rate_per_minute="1")


@pytest.fixture(scope="module")
def trusting_another_proxy(gateways: GatewayProcesses) -> Process:
    return gateways.start(login_burst="2", login_rate_per_minute="1", trusted_proxies="10.9.8.7")


@pytest.fixture(scope="module")
def behind_a_proxy(gateways: GatewayProcesses) -> Process:
    return gateways.start(login_burst="2", login_rate_per_minute="1", trusted_proxies="127.0.0.1")


def _logins(gateway: Process, forwarded_for: list[str]) -> list[httpx.Response]:
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        return [
            http.post("/v1/auth/login", json={}, headers={"X-Forwarded-For": address})
            for address in forwarded_for
        ]


@pytest.mark.parametrize("gateway_name", ["untrusting", "trusting_another_proxy"])
def test_a_clients_forwarded_headers_are_ignored(
    gateway_name: str, request: pytest.FixtureRequest, bearer: dict[str, str]
) -> None:
    gateway: Process = request.getfixturevalue(gateway_name)
    with httpx.Client(base_url=gateway.url, timeout=10) as http:
        response = http.get("/v1/goals/forwarded", headers={**bearer, **SPOOFED})
    assert response.status_code == 200
    # The service sees the connection's address and scheme, not what the client claimed.
    assert response.json()["x-forwarded-for"] == ["127.0.0.1"]
    assert response.json()["x-forwarded-proto"] == ["http"]
    assert "strict-transport-security" not in response.headers


@pytest.mark.parametrize("gateway_name", ["untrusting", "trusting_another_proxy"])
def test_a_spoofed_address_is_still_rate_limited_as_the_real_one(
    gateway_name: str, request: pytest.FixtureRequest
) -> None:
    gateway: Process = request.getfixturevalue(gateway_name)
    first, second, third = _logins(gateway, ["1.2.3.4", "1.2.3.5", "198.51.100.7"])
    assert [first.status_code, second.status_code] == [200, 200]
    assert first.json()["x-forwarded-for"] == second.json()["x-forwarded-for"] == ["127.0.0.1"]
    assert third.status_code == 429
    # Retry-After in whole seconds (one attempt a minute comes back in 60), and a JSON body.
    assert third.headers["retry-after"] == "60"
    assert third.headers["content-type"] == "application/json"
    assert third.json() == {
        "error": "RateLimited",
        "detail": "too many attempts from this address; try again later",
        "retry_after_seconds": 60,
    }
    assert third.headers["x-content-type-options"] == "nosniff"


def test_behind_a_configured_proxy_its_forwarded_headers_count(
    behind_a_proxy: Process, bearer: dict[str, str]
) -> None:
    with httpx.Client(base_url=behind_a_proxy.url, timeout=10) as http:
        response = http.get("/v1/goals/forwarded", headers={**bearer, **SPOOFED})
    assert response.status_code == 200
    assert response.json()["x-forwarded-for"] == ["1.2.3.4"]
    assert response.json()["x-forwarded-proto"] == ["https"]
    # Served over TLS as far as the browser is concerned: HSTS goes out.
    assert response.headers["strict-transport-security"] == "max-age=31536000"

    # Each address the proxy forwards has its own login bucket.
    statuses = [r.status_code for r in _logins(behind_a_proxy, ["1.2.3.4"] * 3 + ["1.2.3.5"])]
    assert statuses == [200, 200, 429, 200]
