"""Token buckets per client address, for endpoints that invite guessing (login)."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from gateway.errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    refilled_at: float


class RateLimiter:
    """Allows ``burst`` requests at once per address, refilled at ``per_minute``.

    Buckets live in memory, one per address, the least recently used dropped beyond
    ``max_addresses``: a dropped bucket comes back full, which for an address idle that long
    is what it would have refilled to anyway. Per process: several gateway processes each
    allow the full rate.
    """

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_addresses: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0 or burst < 1:
            raise ValueError("rate limit needs a positive rate and a burst of at least 1")
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_addresses = max_addresses
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def retry_after(self, address: str) -> float:
        """Take one token for ``address``: 0 when allowed, else seconds until one is free."""
        now = self._clock()
        bucket = self._buckets.get(address)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[address] = bucket
            if len(self._buckets) > self._max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(address)
            refill = (now - bucket.refilled_at) * self._rate
            bucket.tokens = min(self._burst, bucket.tokens + refill)
            bucket.refilled_at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def check(self, address: str) -> None:
        """Raise :class:`RateLimited` (429 with Retry-After) when ``address`` is over its rate."""
        wait = self.retry_after(address)
        if wait > 0:
            raise RateLimited(
                "too many attempts from this address; try again later",
                retry_after_seconds=max(1, math.ceil(wait)),
            )
