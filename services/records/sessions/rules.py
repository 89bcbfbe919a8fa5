"""How a session record is derived from what signaling reports (pure rules, no I/O).

Every rule of the record is a min or a max (or derived from them), so duplicated or reordered
events leave the same record; its connection-quality summary is derived from all the samples.
"""

from __future__ import annotations

import math
import statistics
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from shared.events.catalog import CallQualitySummary

Outcome = Literal["completed", "no-show", "interrupted"]


def utc(at: datetime) -> datetime:
    """An event's time as aware UTC.

    The catalog's datetimes accept naive values; producers send UTC, so read them as UTC.
    """
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def earliest(current: datetime | None, candidate: datetime) -> datetime:
    candidate = utc(candidate)
    return candidate if current is None or candidate < current else current


def latest(current: datetime | None, candidate: datetime) -> datetime:
    candidate = utc(candidate)
    return candidate if current is None or candidate > current else current


def outcome(clinician_id: uuid.UUID, client_id: uuid.UUID, attended: set[uuid.UUID]) -> Outcome:
    """A no-show without the client; completed with both parties; interrupted otherwise."""
    if client_id not in attended:
        return "no-show"
    if clinician_id in attended:
        return "completed"
    return "interrupted"


# The connection-quality summary, from the samples signaling reported.


@dataclass(frozen=True)
class Sample:
    round_trip_ms: float | None
    packet_loss: float | None
    jitter_ms: float | None
    bitrate_kbps: float | None


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with ``fraction`` of them at or below."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(samples: Sequence[Sample]) -> CallQualitySummary:
    """Median and 95th percentile round trip, mean loss and jitter, lowest bitrate (each None
    when no sample reported that measure)."""
    rtt = _present(s.round_trip_ms for s in samples)
    loss = _present(s.packet_loss for s in samples)
    jitter = _present(s.jitter_ms for s in samples)
    bitrate = _present(s.bitrate_kbps for s in samples)
    return CallQualitySummary(
        samples=len(samples),
        round_trip_ms_median=round(statistics.median(rtt), 3) if rtt else None,
        round_trip_ms_p95=round(percentile(rtt, 0.95), 3) if rtt else None,
        packet_loss_mean=round(statistics.fmean(loss), 6) if loss else None,
        jitter_ms_mean=round(statistics.fmean(jitter), 3) if jitter else None,
        bitrate_kbps_min=round(min(bitrate), 3) if bitrate else None,
    )
