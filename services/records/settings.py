"""The records service's settings (environment prefix ``RAPPORT_RECORDS_``)."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import ServiceSettings


class RecordsSettings(ServiceSettings):
    """Settings of the records service; deployment-wide values come from ``RAPPORT_*``."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_RECORDS_", extra="ignore", populate_by_name=True
    )

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/records.db"
    # Bookable slots: how long one is, and how far apart they start, unless a clinician's
    # availability says otherwise.
    slot_minutes: int = Field(50, ge=5, le=480)
    slot_step_minutes: int = Field(60, ge=5, le=480)
    # How many hours before an appointment ``appointment.reminder_due`` goes out, as a
    # comma-separated list ("24,1"); each lead time is reminded once per appointment.
    reminder_hours: Annotated[list[float], NoDecode] = [24.0]
    # How often the reminder loop looks for due reminders.
    reminder_poll_seconds: float = Field(60.0, gt=0)

    # An ended session where not both parties joined (a no-show, an interrupted call) is
    # announced once no event has changed its record for this long, so that participant
    # events arriving after the end still count.
    completion_settle_seconds: float = Field(10.0, ge=0)
    completion_poll_seconds: float = Field(1.0, gt=0)

    # Safety flags: how long a clinician has to acknowledge one before it escalates (the
    # clinic's deadline, fixed on each flag when it is raised), who is on call for escalations
    # (a clinician's or admin's user id; unset: every admin), and how often to look.
    safety_ack_minutes: float = Field(240.0, gt=0)
    safety_on_call_id: uuid.UUID | None = None
    safety_poll_seconds: float = Field(15.0, gt=0)
    # The session by which a client should have reliably improved, or is off track.
    measures_review_session: int = Field(6, ge=1)

    # Whether the clinic keeps each call's chat, saved by the clinician's page at the call's
    # end, in the clinician's private record. Off: chat lives only in the call.
    keep_chat_transcripts: bool = False

    # The billing table (sessions/billing.py; sources in docs/billing.md). Each time-based
    # psychotherapy code with the connected minutes from which it applies, as JSON (CPT 2024:
    # 90832 from 16, 90834 from 38, 90837 from 53; nothing below the smallest).
    billing_time_codes: dict[str, float] = Field(
        default_factory=lambda: {"90832": 16.0, "90834": 38.0, "90837": 53.0}
    )
    # Group psychotherapy (more than one client attended), from this many connected minutes.
    billing_group_code: str = Field("90853", pattern=r"^[0-9A-Z]{5}$")
    billing_group_minimum_minutes: float = Field(16.0, ge=0)
    # CMS place-of-service codes: the client said they were at home, or anywhere else.
    billing_home_place_of_service: str = Field("10", pattern=r"^[0-9]{2}$")
    billing_elsewhere_place_of_service: str = Field("02", pattern=r"^[0-9]{2}$")

    @field_validator("billing_time_codes")
    @classmethod
    def _codes_and_minutes(cls, value: dict[str, float]) -> dict[str, float]:
        if not value:
            raise ValueError("name at least one code")
        if any(
            not re.fullmatch(r"[0-9A-Z]{5}", code) or minutes < 0 for code, minutes in value.items()
        ):
            raise ValueError("each code is five letters or digits, with minutes of at least 0")
        return value

    @field_validator("reminder_hours", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reminder_hours")
    @classmethod
    def _positive(cls, value: list[float]) -> list[float]:
        if any(hours <= 0 for hours in value):
            raise ValueError("reminder hours must be positive")
        return sorted(set(value), reverse=True)
