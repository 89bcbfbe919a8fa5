"""The billing table: which codes a session's record earns (pure rules, no I/O).

Every value a payer may read differently (codes, minutes) is a records setting
(``RAPPORT_RECORDS_BILLING_*``, defaults in settings.py) read into :class:`BillingTable`; the
defaults and their sources are in docs/billing.md:

- psychotherapy by connected time (CPT 2024, time rule: a unit of time is attained once its
  midpoint is passed): 90832 from 16 minutes, 90834 from 38, 90837 from 53; no code below 16;
- group psychotherapy (CPT 90853) when more than one client attended, held to the same floor;
- place of service (CMS place-of-service code set): 10 when the client said they were at home,
  02 anywhere else;
- audio-only when no participant's client decoded a single video frame, unknown when none said.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.records.settings import RecordsSettings


@dataclass(frozen=True)
class Attendee:
    user_id: uuid.UUID
    role: str


@dataclass(frozen=True)
class Billing:
    """What a billing system needs of one session."""

    connected_seconds: int
    cpt_code: str | None
    group: bool
    place_of_service: str
    audio_only: bool | None
    attendees: tuple[Attendee, ...]


@dataclass(frozen=True)
class BillingTable:
    """The codes and the times they start at. ``time_codes`` maps each time-based code to
    the connected minutes from which it applies (the longest reached wins); below the
    smallest, no code. A group session earns ``group_code`` from ``group_minimum_minutes``."""

    time_codes: Mapping[str, float]
    group_code: str
    group_minimum_minutes: float
    home_place_of_service: str
    elsewhere_place_of_service: str

    @classmethod
    def standard(cls) -> BillingTable:
        """The table of the settings' defaults (the CPT and CMS codes of docs/billing.md)."""
        return cls.from_settings(RecordsSettings.model_construct())

    @classmethod
    def from_settings(cls, settings: RecordsSettings) -> BillingTable:
        return cls(
            time_codes=dict(settings.billing_time_codes),
            group_code=settings.billing_group_code,
            group_minimum_minutes=settings.billing_group_minimum_minutes,
            home_place_of_service=settings.billing_home_place_of_service,
            elsewhere_place_of_service=settings.billing_elsewhere_place_of_service,
        )

    def code_for(self, connected_seconds: float, *, group: bool) -> str | None:
        """The code ``connected_seconds`` of connected time earns (None: too short)."""
        if group:
            reached = connected_seconds >= self.group_minimum_minutes * 60
            return self.group_code if reached else None
        earned = [
            (minutes, code)
            for code, minutes in self.time_codes.items()
            if connected_seconds >= minutes * 60
        ]
        return max(earned)[1] if earned else None

    def place_of_service(self, at_home: bool | None) -> str:
        """Home when the client said so; anywhere else, including not saying, is elsewhere."""
        return self.home_place_of_service if at_home else self.elsewhere_place_of_service

    def derive(
        self,
        *,
        connected_seconds: int,
        attendees: Iterable[Attendee],
        at_home: bool | None,
        video_frames_decoded: Iterable[int | None],
    ) -> Billing:
        """The session's billing from its connected time, who attended, where the client
        said they were, and what each participant's client reported decoding."""
        present = tuple(sorted(attendees, key=lambda a: (a.role, str(a.user_id))))
        group = sum(1 for a in present if a.role == "client") > 1
        return Billing(
            connected_seconds=connected_seconds,
            cpt_code=self.code_for(connected_seconds, group=group),
            group=group,
            place_of_service=self.place_of_service(at_home),
            audio_only=audio_only(video_frames_decoded),
            attendees=present,
        )


def audio_only(video_frames_decoded: Iterable[int | None]) -> bool | None:
    """True when participants' clients reported and none decoded video; None when none said."""
    reported = [frames for frames in video_frames_decoded if frames is not None]
    if not reported:
        return None
    return not any(frames > 0 for frames in reported)
