"""Login throttling: a rate per client address, and a temporary lock per account.

Both are keyed by what the caller sent, not by what exists: an email with no account is
counted and locked exactly like one with an account, so the lock tells a guesser nothing
about which addresses are registered. State lives in this process's memory (bounded, least
recently used dropped); several identity processes each count on their own.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

V = TypeVar("V")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    refilled_at: float


@dataclass(slots=True)
class _Failures:
    count: int = 0
    locked_until: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """Why a login attempt is refused before its password is checked."""

    reason: str  # "address" or "account"
    retry_after_seconds: int


class LoginThrottle:
    """Decides whether a login attempt may be checked at all, and counts failures."""

    def __init__(
        self,
        *,
        attempts_per_minute_per_address: float,
        address_burst: int,
        lock_after_failures: int,
        lock_seconds: float,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if attempts_per_minute_per_address <= 0 or address_burst < 1 or lock_after_failures < 1:
            raise ValueError("login throttle needs a positive rate, burst and failure limit")
        self._rate = attempts_per_minute_per_address / 60.0
        self._burst = float(address_burst)
        self._lock_after = lock_after_failures
        self._lock_seconds = lock_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._addresses: OrderedDict[str, _Bucket] = OrderedDict()
        self._accounts: OrderedDict[str, _Failures] = OrderedDict()

    def admit(self, *, email: str, address: str) -> Refusal | None:
        """Take one attempt for ``address``; None if the password may be checked."""
        now = self._clock()
        failures = self._accounts.get(email)
        if failures is not None and failures.locked_until > now:
            return Refusal("account", max(1, math.ceil(failures.locked_until - now)))
        bucket = self._addresses.get(address)
        if bucket is None:
            bucket = self._remember(self._addresses, address, _Bucket(self._burst, now))
        else:
            self._addresses.move_to_end(address)
            bucket.tokens = min(
                self._burst, bucket.tokens + (now - bucket.refilled_at) * self._rate
            )
            bucket.refilled_at = now
        if bucket.tokens < 1.0:
            return Refusal("address", max(1, math.ceil((1.0 - bucket.tokens) / self._rate)))
        bucket.tokens -= 1.0
        return None

    def failed(self, email: str) -> None:
        """Count a wrong password (or unknown email); lock the email after too many in a row."""
        failures = self._accounts.get(email)
        if failures is None:
            failures = self._remember(self._accounts, email, _Failures())
        failures.count += 1
        if failures.count >= self._lock_after:
            failures.locked_until = self._clock() + self._lock_seconds
            failures.count = 0

    def succeeded(self, email: str) -> None:
        """A correct password clears the failure count."""
        self._accounts.pop(email, None)

    def _remember(self, table: OrderedDict[str, V], key: str, value: V) -> V:
        table[key] = value
        if len(table) > self._max_entries:
            table.popitem(last=False)
        return value
