"""Token buckets: per client address (login) and per principal (every authenticated request)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.errors import RateLimited
from shared.token_bucket import TokenBuckets


class RateLimiter(TokenBuckets):
    """:class:`TokenBuckets` that refuse with a 429 (see there for rate, burst and memory)."""

    def __init__(
        self,
        *,
        per_minute: float,
        burst: int,
        max_keys: int = 100_000,
        refusal: str = "too many requests; try again later",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(per_minute=per_minute, burst=burst, max_keys=max_keys, clock=clock)
        self._refusal = refusal

    def check(self, key: str) -> None:
        """Raise :class:`RateLimited` (429 with Retry-After) when ``key`` is over its rate."""
        wait = self.whole_seconds_to_wait(key)
        if wait:
            raise RateLimited(self._refusal, retry_after_seconds=wait)
