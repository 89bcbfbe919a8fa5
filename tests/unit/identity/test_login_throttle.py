"""Login throttling: per address, a temporary lock per email (in the database, shared by every
identity process), and no difference for unknown emails. Clocks are injected; nothing waits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from services.identity.app import create_app
from services.identity.models import LoginFailure
from services.identity.settings import IdentitySettings
from services.identity.sign_in.login_throttle import AccountLocks, AddressThrottle, Refusal
from shared.db import Database
from tests.unit.identity.factories import login, registered_user

PASSWORD = "correct horse battery"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeWallClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wall_clock() -> FakeWallClock:
    return FakeWallClock()


def _addresses(clock: FakeClock) -> AddressThrottle:
    return AddressThrottle(attempts_per_minute_per_address=6, address_burst=3, clock=clock)


def _accounts(database: Database, clock: FakeWallClock) -> AccountLocks:
    return AccountLocks(database, lock_after_failures=3, lock_seconds=600, clock=clock)


async def _refusal(locks: AccountLocks, database: Database, email: str) -> Refusal | None:
    async with database.unit_of_work() as session:
        return await locks.refusal(session, email)


def test_an_address_gets_its_burst_then_waits_for_the_refill(clock: FakeClock) -> None:
    throttle = _addresses(clock)
    for _ in range(3):
        assert throttle.admit("10.0.0.1") is None
    assert throttle.admit("10.0.0.1") == Refusal("address", 10)
    assert throttle.admit("10.0.0.2") is None  # another address
    clock.now += 10
    assert throttle.admit("10.0.0.1") is None


async def test_failures_in_a_row_lock_the_email_until_the_lock_ends(
    database: Database, wall_clock: FakeWallClock
) -> None:
    locks = _accounts(database, wall_clock)
    for _ in range(3):
        await locks.failed("x@example.com")
    assert await _refusal(locks, database, "x@example.com") == Refusal("account", 600)
    assert await _refusal(locks, database, "y@example.com") is None
    wall_clock.now += timedelta(seconds=600)
    assert await _refusal(locks, database, "x@example.com") is None


async def test_a_success_clears_the_failure_count(
    database: Database, wall_clock: FakeWallClock
) -> None:
    locks = _accounts(database, wall_clock)
    await locks.failed("x@example.com")
    await locks.failed("x@example.com")
    async with database.unit_of_work() as session:
        await locks.succeeded(session, "x@example.com")
    await locks.failed("x@example.com")
    assert await _refusal(locks, database, "x@example.com") is None


async def test_failures_older_than_the_lock_time_are_forgotten_and_pruned(
    database: Database, wall_clock: FakeWallClock
) -> None:
    locks = _accounts(database, wall_clock)
    await locks.failed("slow@example.com")
    await locks.failed("slow@example.com")
    for email in (f"spray{n}@example.com" for n in range(20)):
        await locks.failed(email)
    wall_clock.now += timedelta(seconds=601)

    await locks.failed("slow@example.com")  # counts as the first again

    assert await _refusal(locks, database, "slow@example.com") is None
    async with database.unit_of_work() as session:
        left = (await session.exec(select(LoginFailure.email))).all()
    assert left == ["slow@example.com"]


async def test_failures_through_two_identity_processes_add_up_to_one_lock(
    settings: IdentitySettings, migrated: str
) -> None:
    # Two apps on one database: two identity replicas behind a load balancer.
    first, second = create_app(settings), create_app(settings)
    async with (
        first.router.lifespan_context(first),
        second.router.lifespan_context(second),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://a") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://b") as b,
    ):
        await registered_user(a, email="shared@example.com")
        # The default lock is after 5 failures: alternate replicas, as a balancer would.
        for replica in (a, b, a, b, a):
            assert (await login(replica, "shared@example.com", "wrong guess")).status_code == 401
        for replica in (a, b):
            locked = await login(replica, "shared@example.com", PASSWORD)
            assert locked.status_code == 429, locked.text
            assert locked.json()["error"] == "LoginThrottled"


async def test_concurrent_failures_are_all_counted(
    database: Database, wall_clock: FakeWallClock
) -> None:
    locks = AccountLocks(database, lock_after_failures=8, lock_seconds=600, clock=wall_clock)
    await asyncio.gather(*(locks.failed("burst@example.com") for _ in range(7)))
    assert await _refusal(locks, database, "burst@example.com") is None
    await locks.failed("burst@example.com")
    assert await _refusal(locks, database, "burst@example.com") == Refusal("account", 600)


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


@pytest.fixture
async def app_without_refill(settings: IdentitySettings, migrated: str) -> AsyncIterator[FastAPI]:
    """The default burst, with a refill so slow that none comes during the test.

    Eleven logins hash eleven passwords; on a loaded machine that takes long enough for the
    default refill (one attempt per 2 s) to hand back an attempt, and the eleventh would pass.
    """
    slow = settings.model_copy(update={"login_attempts_per_minute_per_address": 0.001})
    app = create_app(slow)
    async with app.router.lifespan_context(app):
        yield app


async def test_one_address_is_rate_limited_across_emails(app_without_refill: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app_without_refill, client=("203.0.113.7", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        statuses = [
            (await login(client, f"spray{n}@example.com", "not the password")).status_code
            for n in range(11)  # the default burst is 10
        ]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429


async def test_a_claimed_address_does_not_buy_a_fresh_allowance(
    app_without_refill: FastAPI,
) -> None:
    # Trusting no proxy (the default), X-Forwarded-For is the client's own claim.
    transport = httpx.ASGITransport(app=app_without_refill, client=("203.0.113.8", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        statuses = [
            (
                await client.post(
                    "/v1/auth/login",
                    json={"email": f"spray{n}@example.com", "password": "not the password"},
                    headers={"X-Forwarded-For": f"198.51.100.{n}"},
                )
            ).status_code
            for n in range(11)
        ]
    assert statuses[10] == 429
