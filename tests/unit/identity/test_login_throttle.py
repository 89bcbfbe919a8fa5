"""Login throttling: per address, a temporary lock per email, and no difference for unknown
emails. The clock is injected; nothing here waits."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.identity.login_throttle import LoginThrottle, Refusal
from tests.unit.identity.factories import login, registered_user

PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _throttle(clock: FakeClock) -> LoginThrottle:
    return LoginThrottle(
        attempts_per_minute_per_address=6,
        address_burst=3,
        lock_after_failures=3,
        lock_seconds=600,
        clock=clock,
    )


def test_an_address_gets_its_burst_then_waits_for_the_refill(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for n in range(3):
        assert throttle.admit(email=f"a{n}@example.com", address="10.0.0.1") is None
    assert throttle.admit(email="b@example.com", address="10.0.0.1") == Refusal("address", 10)
    assert throttle.admit(email="b@example.com", address="10.0.0.2") is None  # another address
    clock.now += 10
    assert throttle.admit(email="b@example.com", address="10.0.0.1") is None


def test_failures_in_a_row_lock_the_email_until_the_lock_ends(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    for _ in range(3):
        throttle.failed("x@example.com")
    assert throttle.admit(email="x@example.com", address="10.0.0.9") == Refusal("account", 600)
    assert throttle.admit(email="y@example.com", address="10.0.0.9") is None
    clock.now += 600
    assert throttle.admit(email="x@example.com", address="10.0.0.9") is None


def test_a_success_clears_the_failure_count(clock: FakeClock) -> None:
    throttle = _throttle(clock)
    throttle.failed("x@example.com")
    throttle.failed("x@example.com")
    throttle.succeeded("x@example.com")
    throttle.failed("x@example.com")
    assert throttle.admit(email="x@example.com", address="10.0.0.9") is None


async def test_repeated_failures_lock_the_account_even_for_the_right_password(
    client: httpx.AsyncClient,
) -> None:
    await registered_user(client, email="target@example.com")
    for _ in range(5):  # the default lock_after_failures
        wrong = await login(client, "target@example.com", "not the password")
        assert wrong.status_code == 401
    locked = await login(client, "target@example.com", PASSWORD)
    assert locked.status_code == 429
    assert locked.json()["error"] == "LoginThrottled"
    assert int(locked.headers["retry-after"]) > 0
    # Other accounts are not affected.
    await registered_user(client, email="bystander@example.com")
    assert (await login(client, "bystander@example.com", PASSWORD)).status_code == 200


async def test_a_lock_looks_the_same_for_an_unknown_email(client: httpx.AsyncClient) -> None:
    await registered_user(client, email="known@example.com")
    answers = {}
    for email in ("known@example.com", "nobody@example.com"):
        for _ in range(5):
            assert (await login(client, email, "not the password")).status_code == 401
        answers[email] = await login(client, email, "not the password")
    known, unknown = answers.values()
    assert known.status_code == unknown.status_code == 429
    assert known.content == unknown.content
    assert known.headers["retry-after"] == unknown.headers["retry-after"]


async def test_one_address_is_rate_limited_across_emails(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        app.state.settings.trust_forwarded_for = False
        statuses = [
            (await login(client, f"spray{n}@example.com", "not the password")).status_code
            for n in range(11)  # the default burst is 10
        ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
