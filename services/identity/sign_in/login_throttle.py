"""Login throttling: a rate per client address, and a temporary lock per account.

Both are keyed by what the caller sent, not by what exists: an email with no account is
counted and locked exactly like one with an account, so the lock tells a guesser nothing
about which addresses are registered.

The account lock lives in the database (:class:`AccountLocks`), so every identity process
counts the same failures and honours the same lock: running more replicas does not give a
guesser more attempts per account. The per-address bucket (:class:`AddressThrottle`) stays in
each process's memory (bounded, least recently used dropped): it is a brake on one client's
request rate, and with N replicas behind a balancer an address gets at most N times the rate;
the gateway's own per-address login limit sits in front of all of them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.sign_in import repository
from shared.db import Database, utc_now
from shared.token_bucket import TokenBuckets


@dataclass(frozen=True)
class Refusal:
    """Why a login attempt is refused before its password is checked."""

    reason: str  # "address" or "account"
    retry_after_seconds: int


class AddressThrottle:
    """A token bucket per client address, in this process's memory (bounded)."""

    def __init__(
        self,
        *,
        attempts_per_minute_per_address: float,
        address_burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._buckets = TokenBuckets(
            per_minute=attempts_per_minute_per_address, burst=address_burst, clock=clock
        )

    def admit(self, address: str) -> Refusal | None:
        """Take one attempt for ``address``; None if it may go ahead."""
        wait = self._buckets.whole_seconds_to_wait(address)
        return Refusal("address", wait) if wait else None


class AccountLocks:
    """Failures in a row per email and the temporary lock they lead to, in the database.

    A failure is written in a unit of work of its own: the login that failed rolls its own
    transaction back (it ends in an error), and the count must survive that. Failures older
    than ``lock_seconds`` no longer count, and such rows are pruned as new failures come in,
    so guessing at many random emails does not grow the table without bound.
    """

    def __init__(
        self,
        database: Database,
        *,
        lock_after_failures: int,
        lock_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        if lock_after_failures < 1 or lock_seconds <= 0:
            raise ValueError("account locks need a positive failure limit and lock time")
        self._database = database
        self._lock_after = lock_after_failures
        self._lock = timedelta(seconds=lock_seconds)
        self._clock = clock

    async def refusal(self, session: AsyncSession, email: str) -> Refusal | None:
        """A refusal while ``email`` is locked, else None."""
        locked_until = await repository.login_locked_until(session, email)
        now = self._clock()
        if locked_until is None or locked_until <= now:
            return None
        return Refusal("account", max(1, math.ceil((locked_until - now).total_seconds())))

    async def failed(self, email: str) -> None:
        """Count a wrong password, an unknown email or a wrong code; lock after too many."""
        now = self._clock()
        async with self._database.unit_of_work(notify=False) as session:
            await repository.record_login_failure(
                session,
                email,
                now=now,
                counts_since=now - self._lock,
                lock_after=self._lock_after,
                locked_until=now + self._lock,
            )

    async def succeeded(self, session: AsyncSession, email: str) -> None:
        """A complete, correct login clears the count (in the login's own transaction)."""
        await repository.clear_login_failures(session, email)


class LoginThrottle:
    """Whether a login attempt may be checked at all, and the failures that count towards a
    lock: the account lock first (shared by every process), then the address's bucket."""

    def __init__(self, *, addresses: AddressThrottle, accounts: AccountLocks) -> None:
        self.addresses = addresses
        self.accounts = accounts

    async def admit(self, session: AsyncSession, *, email: str, address: str) -> Refusal | None:
        """None if the password may be checked; else why not."""
        locked = await self.accounts.refusal(session, email)
        if locked is not None:
            return locked
        return self.addresses.admit(address)

    async def failed(self, email: str) -> None:
        await self.accounts.failed(email)

    async def succeeded(self, session: AsyncSession, email: str) -> None:
        await self.accounts.succeeded(session, email)
