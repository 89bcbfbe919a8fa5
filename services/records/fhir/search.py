"""The FHIR API's search parameters: which each resource type takes, and parsing them.

Pure: query parameters in, a :class:`Search` (or :class:`InvalidSearch` saying what is wrong)
out. Unknown parameters are refused rather than ignored, so a misspelt filter never returns
more than was asked for.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from shared.errors import InvalidRequest

DEFAULT_COUNT = 50
MAX_COUNT = 200
# The offset of a page: our own parameter, written into the ``next`` links we hand out.
OFFSET = "_offset"


class InvalidSearch(InvalidRequest):
    """A search parameter that this server does not support or cannot parse."""

    status_code = 400


@dataclass(frozen=True)
class SearchParameters:
    """A resource type's names for the common filters (None: not searchable by it)."""

    date: str | None
    status: str | None
    patient: bool = True


# FHIR R4's names for each type's date and status parameters.
SEARCH_PARAMETERS: dict[str, SearchParameters] = {
    "Patient": SearchParameters(date=None, status=None, patient=False),
    "Appointment": SearchParameters(date="date", status="status"),
    "Encounter": SearchParameters(date="date", status="status"),
    "Goal": SearchParameters(date="start-date", status="lifecycle-status"),
    "CarePlan": SearchParameters(date="date", status="status"),
    "QuestionnaireResponse": SearchParameters(date="authored", status="status"),
    "Observation": SearchParameters(date="date", status="status"),
}


@dataclass(frozen=True)
class TimeRange:
    """``start <= t < end``, either side open when None."""

    start: datetime | None = None
    end: datetime | None = None

    def narrowed(self, other: TimeRange) -> TimeRange:
        starts = [t for t in (self.start, other.start) if t is not None]
        ends = [t for t in (self.end, other.end) if t is not None]
        return TimeRange(max(starts) if starts else None, min(ends) if ends else None)


@dataclass(frozen=True)
class Search:
    """One search: filters ANDed together, and the page asked for."""

    resource_type: str
    ids: frozenset[uuid.UUID] | None = None
    patient: uuid.UUID | None = None
    date: TimeRange = field(default_factory=TimeRange)
    last_updated: TimeRange = field(default_factory=TimeRange)
    statuses: frozenset[str] | None = None
    count: int = DEFAULT_COUNT
    offset: int = 0

    def page(self, offset: int) -> Search:
        return replace(self, offset=offset)


def parse_search(resource_type: str, query: Sequence[tuple[str, str]]) -> Search:
    """The search that ``query`` (repeated names allowed) asks of ``resource_type``."""
    names = SEARCH_PARAMETERS[resource_type]
    search = Search(resource_type=resource_type)
    for name, value in query:
        if name == "_id":
            search = replace(search, ids=_ids(name, value, search.ids))
        elif name == "patient" and names.patient:
            search = replace(search, patient=_patient(value))
        elif name == "_lastUpdated":
            search = replace(search, last_updated=search.last_updated.narrowed(_date(name, value)))
        elif name == names.date:
            search = replace(search, date=search.date.narrowed(_date(name, value)))
        elif name == names.status:
            statuses = frozenset(v for v in value.split(",") if v)
            if search.statuses is not None:
                statuses &= search.statuses
            search = replace(search, statuses=statuses)
        elif name == "_count":
            search = replace(search, count=_integer(name, value, 1, MAX_COUNT))
        elif name == OFFSET:
            search = replace(search, offset=_integer(name, value, 0, 10**9))
        else:
            supported = ["_id", "_lastUpdated", "_count"]
            supported += [n for n in (names.date, names.status) if n]
            supported += ["patient"] if names.patient else []
            raise InvalidSearch(
                f"{resource_type} has no search parameter {name!r}; "
                f"supported: {', '.join(sorted(supported))}"
            )
    return search


def _ids(name: str, value: str, before: frozenset[uuid.UUID] | None) -> frozenset[uuid.UUID]:
    try:
        ids = frozenset(uuid.UUID(v) for v in value.split(","))
    except ValueError as exc:
        raise InvalidSearch(f"{name}: ids are UUIDs") from exc
    return ids if before is None else ids & before


def _patient(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.removeprefix("Patient/"))
    except ValueError as exc:
        raise InvalidSearch("patient: a Patient id (a UUID) or Patient/<id>") from exc


def _integer(name: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidSearch(f"{name}: a whole number from {low} to {high}")
    return int(value)


_DATE = re.compile(
    r"^(?P<prefix>[a-z]{2})?"
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def _date(name: str, value: str) -> TimeRange:
    """A FHIR date search value (``ge2026-01``, ``2026-01-05T10:00Z``) as the range of
    instants it admits; times without a zone are UTC."""
    match = _DATE.match(value)
    if match is None:
        raise InvalidSearch(f"{name}: a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime)")
    prefix = match["prefix"] or "eq"
    if prefix not in ("eq", "ge", "gt", "le", "lt"):
        raise InvalidSearch(f"{name}: the prefixes supported are eq, ge, gt, le and lt")
    try:
        start, end = _precision_range(match)
    except ValueError as exc:
        raise InvalidSearch(f"{name}: {exc}") from exc
    return {
        "eq": TimeRange(start, end),
        "ge": TimeRange(start, None),
        "gt": TimeRange(end, None),
        "le": TimeRange(None, end),
        "lt": TimeRange(None, start),
    }[prefix]


def _precision_range(match: re.Match[str]) -> tuple[datetime, datetime]:
    year = int(match["year"])
    if match["month"] is None:
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    month = int(match["month"])
    if match["day"] is None:
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return start, end
    day = int(match["day"])
    if match["hour"] is None:
        start = datetime(year, month, day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    zone = (
        UTC
        if match["zone"] in (None, "Z")
        else datetime.fromisoformat(f"2000-01-01T00:00{match['zone']}").tzinfo
    )
    second = int(match["second"] or 0)
    fraction = float(match["fraction"] or 0)
    start = datetime(
        year,
        month,
        day,
        int(match["hour"]),
        int(match["minute"]),
        second,
        round(fraction * 1_000_000),
        tzinfo=zone,
    )
    if match["second"] is None:
        step = timedelta(minutes=1)
    elif match["fraction"] is None:
        step = timedelta(seconds=1)
    else:
        step = timedelta(microseconds=1)
    return start.astimezone(UTC), (start + step).astimezone(UTC)
