"""Rate limits: token buckets per client address (login) and per principal (every API call)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway.app import create_app
from gateway.errors import RateLimited
from gateway.rate_limit import RateLimiter
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream, asgi_gateway, gateway_settings


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
    limiter = RateLimiter(per_minute=1, burst=1, max_keys=2, clock=FakeClock())
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


def test_buckets_that_refilled_while_idle_are_forgotten() -> None:
    clock = FakeClock()
    # Full again 10 s after the last request (burst 2 at 12 a minute).
    limiter = RateLimiter(per_minute=12, burst=2, clock=clock)
    for address in ("a", "b", "c"):
        limiter.retry_after(address)
    clock.now += 5.0
    limiter.retry_after("c")
    assert len(limiter) == 3
    clock.now += 6.0  # "a" and "b" idle for 11 s: full, so the same as no bucket at all
    limiter.retry_after("d")
    assert len(limiter) == 2  # "c" (6 s idle) and "d" remain
    for address in ("a", "b"):
        assert limiter.retry_after(address) == 0.0
        assert limiter.retry_after(address) == 0.0
        assert limiter.retry_after(address) > 0


def test_memory_follows_the_recently_active_keys_not_all_ever_seen() -> None:
    clock = FakeClock()
    limiter = RateLimiter(per_minute=60, burst=5, clock=clock)
    for index in range(50_000):
        clock.now += 0.001
        limiter.retry_after(f"10.0.{index // 256}.{index % 256}")
    # 5 s to refill at 1/s: only the keys of the last 5 s (5000 of them) are still held.
    assert 4990 <= len(limiter) <= 5001


async def test_a_spoofed_forwarded_for_does_not_escape_the_login_limit(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    settings = gateway_settings(identity_url=echo_upstream.url, login_burst=2)
    login = {"email": "a@example.org", "password": "correct horse"}
    async with asgi_gateway(settings, token_issuer, client=("203.0.113.9", 50000)) as (_, http):
        statuses = [
            (
                await http.post(
                    "/v1/auth/login",
                    json=login,
                    headers={"X-Forwarded-For": f"1.2.3.{attempt}", "X-Real-IP": "1.2.3.4"},
                )
            ).status_code
            for attempt in range(3)
        ]
    assert statuses == [200, 200, 429]
    [*_, last_seen] = echo_upstream.requests_to("/v1/auth/login")
    assert ["x-forwarded-for", "203.0.113.9"] in last_seen["headers"]
    assert not any(name == "x-real-ip" for name, _ in last_seen["headers"])


async def test_each_principal_has_a_bucket_for_its_api_calls(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    settings = gateway_settings(
        records_url=echo_upstream.url,
        identity_url=echo_upstream.url,
        principal_rate_per_minute=6,
        principal_burst=3,
    )
    user = uuid.uuid4()
    busy = token_issuer.issue(user, "clinician")
    # A second token of the same user shares the bucket: the limit is per principal.
    busy_elsewhere = token_issuer.issue(user, "clinician")
    calm = token_issuer.issue(uuid.uuid4(), "client")
    async with asgi_gateway(settings, token_issuer) as (_, http):

        async def call(token: str) -> httpx.Response:
            return await http.get("/v1/goals", headers={"Authorization": f"Bearer {token}"})

        allowed = [(await call(busy)).status_code for _ in range(2)]
        allowed.append((await call(busy_elsewhere)).status_code)
        refused = await call(busy)
        other = await call(calm)
        # Public endpoints and refused tokens do not draw on anyone's bucket.
        login = await http.post("/v1/auth/login", json={})
        anonymous = await http.get("/v1/goals")

    assert allowed == [200, 200, 200]
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "10"  # one token back at 6 a minute
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {
        "error": "RateLimited",
        "detail": "too many requests for this account; try again later",
        "retry_after_seconds": 10,
    }
    assert refused.headers["x-content-type-options"] == "nosniff"
    assert other.status_code == 200
    assert login.status_code == 200
    assert anonymous.status_code == 401


async def test_the_principal_limit_can_be_turned_off(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    settings = gateway_settings(
        records_url=echo_upstream.url, principal_rate_per_minute=0, principal_burst=1
    )
    token = token_issuer.issue(uuid.uuid4(), "clinician")
    async with asgi_gateway(settings, token_issuer) as (_, http):
        statuses = {
            (await http.get("/v1/goals", headers={"Authorization": f"Bearer {token}"})).status_code
            for _ in range(5)
        }
    assert statuses == {200}
