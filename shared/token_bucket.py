"""A token bucket per key, in this process's memory, with bounded memory.

Used by the gateway's rate limits (per address on login, per principal on every
authenticated request) and identity's per-address login throttle. Hand-written rather than
from ``limits``, ``token-bucket`` or ``pyrate-limiter``: ``limits`` offers fixed and moving
windows, not a refilling bucket; none of them takes an injected clock (the tests step one
instead of sleeping) together with a bound on the keys held, and the callers need the seconds
until the next token (a 429's Retry-After), not only a yes or no.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    refilled_at: float


class TokenBuckets:
    """Allows ``burst`` takes at once per key, refilled at ``per_minute``.

    Buckets live in memory, one per key (an address, a token subject), least recently used
    first. A bucket left alone long enough to refill completely is dropped, since a fresh one
    is the same, so memory follows the keys active in the last ``burst / rate`` seconds; beyond
    ``max_keys`` the least recent goes early (it comes back full, which only errs towards
    allowing). Per process: several processes each allow the full rate.
    """

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("a token bucket needs a positive rate, a burst and room for a key")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._full_after = self._burst / self._rate
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        """How many buckets are held (idle full ones are dropped as others arrive)."""
        return len(self._buckets)

    def retry_after(self, key: str) -> float:
        """Take one token for ``key``: 0 when allowed, else seconds until one is free."""
        now = self._clock()
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            self._forget_idle(now)
            bucket = buckets[key] = _Bucket(self._burst, now)
            if len(buckets) > self._max_keys:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(key)
            refill = (now - bucket.refilled_at) * self._rate
            bucket.tokens = min(self._burst, bucket.tokens + refill)
            bucket.refilled_at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def whole_seconds_to_wait(self, key: str) -> int:
        """Take one token for ``key``: 0 when allowed, else whole seconds (at least 1) to wait,
        as a Retry-After header says it."""
        wait = self.retry_after(key)
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def _forget_idle(self, now: float) -> None:
        # Least recent first, so the scan stops at the first bucket still refilling: each
        # bucket is dropped once, which keeps this O(1) per request on average.
        buckets = self._buckets
        while buckets:
            oldest = next(iter(buckets.values()))
            if now - oldest.refilled_at < self._full_after:
                return
            buckets.popitem(last=False)
