"""Login rate limiting: a token bucket per client address."""

from __future__ import annotations

import httpx
import pytest

from gateway.app import create_app
from gateway.errors import RateLimited
from gateway.rate_limit import RateLimiter
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream, gateway_settings


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refused_then_refilled() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=10, burst=10, clock=clock)
    assert [limiter.retry_after("198.51.100.1") for _ in range(10)] == [0.0] * 10
    assert limiter.retry_after("198.51.100.1") == pytest.approx(6.0)
    clock.now += 6.0
    assert limiter.retry_after("198.51.100.1") == 0.0
    assert limiter.retry_after("198.51.100.1") > 0


def test_addresses_have_their_own_buckets() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, clock=FakeClock())
    assert limiter.retry_after("198.51.100.1") == 0.0
    assert limiter.retry_after("198.51.100.1") > 0
    assert limiter.retry_after("198.51.100.2") == 0.0


def test_check_raises_with_whole_seconds_to_wait() -> None:
    limiter = RateLimiter(per_minute=10, burst=1, clock=FakeClock())
    limiter.check("198.51.100.1")
    with pytest.raises(RateLimited) as refused:
        limiter.check("198.51.100.1")
    assert refused.value.headers == {"Retry-After": "6"}
    assert refused.value.extra == {"retry_after_seconds": 6}


def test_memory_is_bounded_by_forgetting_the_least_recent_address() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, max_addresses=2, clock=FakeClock())
    limiter.retry_after("a")
    limiter.retry_after("b")
    limiter.retry_after("a")  # "a" is now the most recent
    limiter.retry_after("c")  # evicts "b"
    assert limiter.retry_after("a") > 0  # still remembered, still empty
    assert limiter.retry_after("b") == 0.0  # forgotten: a fresh bucket


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(per_minute=0, burst=1)
    with pytest.raises(ValueError):
        RateLimiter(per_minute=10, burst=0)


async def test_login_is_limited_per_address_with_retry_after(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    settings = gateway_settings(
        identity_url=echo_upstream.url, login_rate_per_minute=10, login_burst=10
    )
    app = create_app(settings, key_source=token_issuer.key_source)
    login = {"email": "a@example.org", "password": "correct horse"}
    async with app.router.lifespan_context(app):
        one = httpx.ASGITransport(app, client=("203.0.113.7", 50000))
        other = httpx.ASGITransport(app, client=("203.0.113.8", 50000))
        async with (
            httpx.AsyncClient(transport=one, base_url="http://gateway") as first,
            httpx.AsyncClient(transport=other, base_url="http://gateway") as second,
        ):
            statuses = [
                (await first.post("/v1/auth/login", json=login)).status_code for _ in range(10)
            ]
            refused = await first.post("/v1/auth/login", json=login)
            elsewhere = await second.post("/v1/auth/login", json=login)
            register = await first.post("/v1/auth/register", json=login)

    assert statuses == [200] * 10
    assert refused.status_code == 429
    assert refused.json()["error"] == "RateLimited"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert elsewhere.status_code == 200
    assert register.status_code == 200
