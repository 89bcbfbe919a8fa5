"""How fast one connection may send: a token bucket, and patience for a client that overshoots.

Each message takes a token from a bucket that refills at ``per_second`` up to ``burst``. A
message that finds the bucket empty is refused ("too-fast") and spends one unit of patience,
which comes back at one per second; a client that runs out of patience is flooding, and is
disconnected (4429). A short overshoot costs a few errors, a sustained flood the connection.
"""

from __future__ import annotations

from enum import Enum


class Verdict(Enum):
    ACCEPT = "accept"
    REFUSE = "refuse"
    DISCONNECT = "disconnect"


class MessageRateLimit:
    """The rate limit of one connection; ``now`` is a monotonic clock reading in seconds."""

    __slots__ = ("_per_second", "_burst", "_patience", "_tokens", "_patience_left", "_updated")

    def __init__(self, *, per_second: float, burst: int, patience: int, now: float) -> None:
        self._per_second = per_second
        self._burst = float(burst)
        self._patience = float(patience)
        self._tokens = float(burst)
        self._patience_left = float(patience)
        self._updated = now

    def check(self, now: float) -> Verdict:
        """Account for one message arriving at ``now``."""
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self._burst, self._tokens + elapsed * self._per_second)
        self._patience_left = min(self._patience, self._patience_left + elapsed)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return Verdict.ACCEPT
        if self._patience_left >= 1.0:
            self._patience_left -= 1.0
            return Verdict.REFUSE
        return Verdict.DISCONNECT
