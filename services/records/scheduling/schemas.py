"""What appointment and availability requests carry, and how they are shown."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    field_validator,
    model_validator,
)

from services.records.scheduling.rules import WEEKDAYS, parse_clock
from services.records.schemas import RequestBody, View
from shared.time_formats import IsoDate, IsoDateTime, TimeZoneName

WeekdayName = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

# Clinician and client, plus up to three invited participants (an interpreter, family).
MAX_PARTICIPANTS = 5

# Times a schedule may hold. Python's datetimes end at years 1 and 9999, and slot arithmetic
# (a slot's length either side, a day either side in the clinician's zone) would overflow
# there: such times are refused as input, naming the field, instead.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(3000, 1, 1, tzinfo=UTC)


def _within_calendar(value: datetime) -> datetime:
    if not EARLIEST_TIME <= value < LATEST_TIME:
        raise ValueError("must be between 1970-01-01 and 2999-12-31 (UTC)")
    return value


# Aware datetimes only (a naive time means a different instant in every time zone), within
# the calendar above.
ScheduleTime = Annotated[
    IsoDateTime,
    AfterValidator(_within_calendar),
    # The years, for the schema (an offset can still move an instant across a bound).
    Field(json_schema_extra={"pattern": "^(19[7-9][0-9]|2[0-9]{3})-"}),
]

# "HH:MM", 00:00 to 24:00 (the end of the day).
CLOCK_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
Clock = Annotated[str, Field(pattern=CLOCK_PATTERN, examples=["09:00"])]


# The longest appointment: a longer one is a typo (a wrong day or month), and would hold the
# clinician's calendar and the call's join window open for that long.
MAX_APPOINTMENT_LENGTH = timedelta(hours=24)


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at")
    if ends_at - starts_at > MAX_APPOINTMENT_LENGTH:
        raise ValueError(
            f"ends_at: at most {MAX_APPOINTMENT_LENGTH.total_seconds() / 3600:g} hours after "
            "starts_at"
        )


def _check_participants(max_participants: int | None, invited: list[uuid.UUID] | None) -> None:
    if invited is None:
        return
    if len(set(invited)) != len(invited):
        raise ValueError("invited_participant_ids: each participant once")
    if max_participants is not None and len(invited) > max_participants - 2:
        raise ValueError(
            f"invited_participant_ids: {len(invited)} invited, but max_participants "
            f"{max_participants} leaves room for {max_participants - 2} besides the clinician "
            "and the client"
        )


class NewAppointment(RequestBody):
    """A booking. A clinician names the client; a client may leave ``client_id`` out (it is
    themself) and names their clinician; a partner app names both."""

    client_id: uuid.UUID | None = None
    clinician_id: uuid.UUID | None = None
    starts_at: ScheduleTime
    ends_at: ScheduleTime
    max_participants: int = Field(default=2, ge=2, le=MAX_PARTICIPANTS)
    invited_participant_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=MAX_PARTICIPANTS - 2
    )

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        _check_times(self.starts_at, self.ends_at)
        _check_participants(self.max_participants, self.invited_participant_ids)
        return self


class NewTimes(RequestBody):
    """New times for an appointment; the participant fields change only when given."""

    starts_at: ScheduleTime
    ends_at: ScheduleTime
    max_participants: int | None = Field(default=None, ge=2, le=MAX_PARTICIPANTS)
    invited_participant_ids: list[uuid.UUID] | None = Field(
        default=None, max_length=MAX_PARTICIPANTS - 2
    )

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        _check_times(self.starts_at, self.ends_at)
        _check_participants(self.max_participants, self.invited_participant_ids)
        return self


class AppointmentView(View):
    id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    max_participants: int = 2
    invited_participant_ids: list[uuid.UUID] = []
    booked_by: str = "clinician"


def _clock(value: str) -> str:
    parse_clock(value)
    return value


class NewWeeklyHours(RequestBody):
    """Open hours on one weekday, local to the clinician's time zone."""

    # ISO weekday (1 = Monday .. 7 = Sunday) or its English name.
    weekday: Annotated[int, Field(ge=1, le=7)] | WeekdayName
    start: Clock
    end: Annotated[Clock, Field(examples=["17:00"])]

    _valid_clock = field_validator("start", "end")(_clock)

    @field_validator("weekday")
    @classmethod
    def _iso_weekday(cls, value: int | str) -> int:
        return WEEKDAYS.index(value) + 1 if isinstance(value, str) else value

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError("end must be after start")
        return self


class NewAvailability(RequestBody):
    """A clinician's weekly hours (replacing the previous ones) in their IANA time zone."""

    time_zone: TimeZoneName
    weekly_hours: list[NewWeeklyHours] = Field(max_length=70)
    slot_minutes: int | None = Field(default=None, ge=5, le=480)
    step_minutes: int | None = Field(default=None, ge=5, le=480)

    @field_validator("time_zone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris)") from exc
        return value


class WeeklyHoursView(BaseModel):
    weekday: str
    start: str
    end: str


class NewAvailabilityException(RequestBody):
    """Local days off (whole days, or ``start``-``end`` on them) or extra hours on them."""

    kind: Literal["off", "extra"]
    first_day: IsoDate
    # Inclusive; the same day when left out. Never before first_day.
    last_day: IsoDate | None = None
    start: Clock | None = None
    end: Clock | None = None

    _valid_clock = field_validator("start", "end")(
        lambda value: None if value is None else _clock(value)
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.last_day is not None and self.last_day < self.first_day:
            raise ValueError("last_day must not be before first_day")
        if (self.start is None) != (self.end is None):
            raise ValueError("start and end go together")
        if self.kind == "extra" and self.start is None:
            raise ValueError("extra hours need start and end")
        if (
            self.start is not None
            and self.end is not None
            and parse_clock(self.end) <= parse_clock(self.start)
        ):
            raise ValueError("end must be after start")
        return self


class AvailabilityExceptionView(BaseModel):
    id: uuid.UUID
    kind: Literal["off", "extra"]
    first_day: date
    last_day: date
    start: str | None
    end: str | None


class AvailabilityView(BaseModel):
    clinician_id: uuid.UUID
    time_zone: str
    weekly_hours: list[WeeklyHoursView]
    slot_minutes: int
    step_minutes: int
    exceptions: list[AvailabilityExceptionView]


class SlotView(BaseModel):
    starts_at: datetime
    ends_at: datetime


class SlotsView(BaseModel):
    """Free slots, UTC, earliest first; ``time_zone`` is the clinician's (for showing them)."""

    clinician_id: uuid.UUID
    time_zone: str
    slot_minutes: int
    slots: list[SlotView]
