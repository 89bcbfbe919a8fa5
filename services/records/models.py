"""The records service's tables.

Every timestamp is a ``UtcDateTime`` (timezone-aware UTC). A session record is keyed by the
session id that signaling uses, so events and later additions (check-ins, notes, quality
samples) attach to it by that id.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.audit_log import AuditFields
from shared.db import UtcDateTime, utc_now


class KnownUser(SQLModel, table=True):
    """Records' own copy of a registered user, built from ``UserRegistered`` events."""

    __tablename__ = "known_users"

    user_id: uuid.UUID = Field(primary_key=True)
    role: str = Field(max_length=20)
    registered_at: datetime = Field(sa_type=UtcDateTime)


class Appointment(SQLModel, table=True):
    """A booked time between a clinician and a client; each has exactly one session."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_clinician_starts", "clinician_id", "starts_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(unique=True)
    clinician_id: uuid.UUID
    client_id: uuid.UUID = Field(index=True)
    starts_at: datetime = Field(sa_type=UtcDateTime)
    ends_at: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(default="booked", max_length=20)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # Set on insert and on every update (FHIR meta.lastUpdated).
    updated_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UtcDateTime,
        index=True,
        sa_column_kwargs={"onupdate": utc_now},
    )
    # Who may be in the call at once (clinician and client included), and who else is invited
    # (an interpreter, a family member), as user id strings.
    max_participants: int = Field(default=2)
    invited_participant_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    # Who booked it: the clinician, the client, or a partner app acting for the clinician.
    booked_by: str = Field(default="clinician", max_length=20)


class Availability(SQLModel, table=True):
    """A clinician's weekly hours, in their own time zone.

    ``weekly_hours`` is a list of ``{"weekday": 1..7 (ISO, Monday = 1), "start": minute of
    the day, "end": minute of the day}``; slot length and step override the service's
    defaults when set.
    """

    __tablename__ = "availability"

    clinician_id: uuid.UUID = Field(primary_key=True)
    time_zone: str = Field(max_length=64)
    weekly_hours: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    slot_minutes: int | None = None
    step_minutes: int | None = None
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class AvailabilityException(SQLModel, table=True):
    """Days (a range of local dates) off, hours off on them, or extra hours on them.

    Dates and minutes are local to the clinician's time zone. An ``off`` exception without
    minutes takes the whole days off.
    """

    __tablename__ = "availability_exceptions"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinician_id: uuid.UUID = Field(index=True)
    kind: str = Field(max_length=10)
    first_day: date
    last_day: date
    start_minute: int | None = None
    end_minute: int | None = None
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class ReminderSent(SQLModel, table=True):
    """An ``AppointmentReminderDue`` queued for one appointment, lead time and start time.

    The start time is part of the key: a rescheduled appointment is reminded of its new time.
    """

    __tablename__ = "reminders_sent"

    appointment_id: uuid.UUID = Field(foreign_key="appointments.id", primary_key=True)
    lead_minutes: int = Field(primary_key=True)
    starts_at: datetime = Field(sa_type=UtcDateTime, primary_key=True)
    sent_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class PartnerGrantRevocation(SQLModel, table=True):
    """A clinician withdrew a partner app's access (from ``partner.access_revoked``).

    Partner tokens issued at or before ``revoked_at`` still name the clinician in their
    ``clinicians`` claim until they expire; records refuses them the clinician's data. A later
    re-grant (``regranted_at``) does not lift it for those tokens: only tokens issued after the
    revocation (which identity issues from the current grants) are believed.
    """

    __tablename__ = "partner_grant_revocations"

    partner_id: str = Field(primary_key=True, max_length=64)
    clinician_id: uuid.UUID = Field(primary_key=True)
    revoked_at: datetime = Field(sa_type=UtcDateTime)
    regranted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class SessionRecord(SQLModel, table=True):
    """What happened in one session, as signaling reported it.

    ``completion_announced_at`` is set when ``SessionCompleted`` is queued in the outbox; it is
    what makes that event go out once however often ``SessionEnded`` arrives.
    """

    __tablename__ = "session_records"
    __table_args__ = (
        Index("ix_session_records_announcement", "completion_announced_at", "ended_at"),
    )

    session_id: uuid.UUID = Field(primary_key=True)
    appointment_id: uuid.UUID = Field(foreign_key="appointments.id", unique=True)
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    status: str = Field(default="scheduled", max_length=20)
    checked_in_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    admitted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    connected_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    duration_seconds: int | None = None
    outcome: str | None = Field(default=None, max_length=20)
    completion_announced_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # The codes of a completed session (what ``SessionBillingReady`` carries, without ids),
    # set when its completion is announced; None until then and for other outcomes.
    billing: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class SessionAttendance(SQLModel, table=True):
    """One participant's presence in a session: first join, last leave."""

    __tablename__ = "session_attendance"

    session_id: uuid.UUID = Field(foreign_key="session_records.session_id", primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True)
    role: str = Field(max_length=20)
    joined_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    left_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class SessionGuest(SQLModel, table=True):
    """A guest without an account whom the session's clinician invited by guest link (an
    interpreter, a family member): who they are to the session, from a fixed list. No name."""

    __tablename__ = "session_guests"

    session_id: uuid.UUID = Field(foreign_key="session_records.session_id", primary_key=True)
    guest_id: uuid.UUID = Field(primary_key=True)
    relationship: str = Field(max_length=20)
    invited_at: datetime = Field(sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class CallQualitySample(SQLModel, table=True):
    """One participant's connection-quality sample, as signaling reported it (numbers only)."""

    __tablename__ = "call_quality_samples"

    session_id: uuid.UUID = Field(foreign_key="session_records.session_id", primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True)
    at: datetime = Field(sa_type=UtcDateTime, primary_key=True)
    role: str = Field(max_length=20)
    round_trip_ms: float | None = None
    # A fraction, 0..1.
    packet_loss: float | None = None
    jitter_ms: float | None = None
    bitrate_kbps: float | None = None
    # Video frames the participant's client had decoded so far (None: it did not say).
    video_frames_decoded: int | None = Field(default=None, sa_type=BigInteger)


class SessionLocation(SQLModel, table=True):
    """Where the client said they were at the start of a session (licensure, emergencies).

    Clinical: read only by the session's clinician, audited, never in an event, a webhook or
    a log. Stating it again replaces it.
    """

    __tablename__ = "session_locations"

    session_id: uuid.UUID = Field(foreign_key="session_records.session_id", primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    # ISO 3166-1 alpha-2 and ISO 3166-2 codes.
    country: str = Field(max_length=2)
    region: str = Field(max_length=10)
    at_home: bool
    # An address or a description of the place, for whoever must reach the client.
    address: str = Field(sa_type=Text)
    stated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class EmergencyContact(SQLModel, table=True):
    """Whom to call about a client in an emergency; one on file per client, replaced when the
    client gives another. Clinical like the location."""

    __tablename__ = "emergency_contacts"

    client_id: uuid.UUID = Field(primary_key=True)
    name: str = Field(max_length=200)
    # E.164.
    phone: str = Field(max_length=20)
    relationship: str | None = Field(default=None, max_length=100)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class ClinicianJurisdictions(SQLModel, table=True):
    """The ISO 3166-2 regions a clinician is licensed to practise in (a clinician setting)."""

    __tablename__ = "clinician_jurisdictions"

    clinician_id: uuid.UUID = Field(primary_key=True)
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class Goal(SQLModel, table=True):
    """A goal a clinician set with a client. The statement is clinical text: never logged."""

    __tablename__ = "goals"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinician_id: uuid.UUID = Field(index=True)
    client_id: uuid.UUID = Field(index=True)
    statement: str = Field(sa_type=Text)
    # FHIR Goal.lifecycleStatus; "active" only once both parties agreed (GoalAgreement).
    status: str = Field(default="proposed", max_length=20)
    # FHIR Goal.achievementStatus (goal-achievement value set), None until assessed.
    achievement_status: str | None = Field(default=None, max_length=20)
    proposed_by_role: str = Field(default="clinician", max_length=20)
    value_id: uuid.UUID | None = Field(default=None, foreign_key="client_values.id")
    target: str | None = Field(default=None, sa_type=Text)
    due_date: date | None = None
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # Set on insert and on every update (FHIR meta.lastUpdated).
    updated_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UtcDateTime,
        index=True,
        sa_column_kwargs={"onupdate": utc_now},
    )


class ClientValue(SQLModel, table=True):
    """A value the client holds, in their words. Values evolve: a revision is a new entry
    that supersedes the old one, which stays (goals keep pointing at what they served)."""

    __tablename__ = "client_values"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    statement: str = Field(sa_type=Text)
    supersedes_id: uuid.UUID | None = Field(default=None, foreign_key="client_values.id")
    superseded_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class GoalAgreement(SQLModel, table=True):
    """One party's recorded agreement to a goal; a goal is active once it has both."""

    __tablename__ = "goal_agreements"

    goal_id: uuid.UUID = Field(foreign_key="goals.id", primary_key=True)
    party_role: str = Field(max_length=20, primary_key=True)
    agreed_by: uuid.UUID
    agreed_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class GoalUpdate(SQLModel, table=True):
    """Progress on a goal reported by its clinician or its client, maybe tied to a session."""

    __tablename__ = "goal_updates"
    __table_args__ = (
        CheckConstraint("progress BETWEEN 0 AND 10", name="ck_goal_updates_progress"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    goal_id: uuid.UUID = Field(foreign_key="goals.id", index=True)
    session_id: uuid.UUID | None = Field(
        default=None, foreign_key="session_records.session_id", index=True
    )
    author_id: uuid.UUID
    author_role: str = Field(max_length=20)
    progress: int
    note: str = Field(sa_type=Text)
    recorded_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # Append-only history: a correction is a new update naming the one it replaces, which is
    # then marked entered in error (the only change an update ever receives).
    corrects_id: uuid.UUID | None = Field(default=None, foreign_key="goal_updates.id")
    entered_in_error_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class CareRelationship(SQLModel, table=True):
    """The working partnership of one clinician and one client; ended by discharge.

    ``started_via`` says what created it: ``booking`` (the clinician's first appointment with
    the client), ``clinician`` (an explicit request) or ``invitation`` (the client accepted
    the clinician's invitation; identity's ``invitation.accepted``).
    """

    __tablename__ = "care_relationships"
    __table_args__ = (Index("ix_care_relationships_pair", "clinician_id", "client_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinician_id: uuid.UUID
    client_id: uuid.UUID = Field(index=True)
    status: str = Field(default="active", max_length=20)
    started_via: str = Field(max_length=20)
    started_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # The treatment plan's planned end: active -> ending -> completed, and what "done" means.
    plan_status: str = Field(default="active", max_length=20)
    ending_criteria: str | None = Field(default=None, sa_type=Text)
    # Set on insert and on every update (FHIR meta.lastUpdated).
    updated_at: datetime = Field(
        default_factory=utc_now,
        sa_type=UtcDateTime,
        index=True,
        sa_column_kwargs={"onupdate": utc_now},
    )


class CheckIn(SQLModel, table=True):
    """A client's four 0-10 ratings at session start (outcome) or end (session)."""

    __tablename__ = "check_ins"
    __table_args__ = (UniqueConstraint("session_id", "kind", name="uq_check_ins_session_kind"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(foreign_key="session_records.session_id")
    clinician_id: uuid.UUID
    client_id: uuid.UUID = Field(index=True)
    kind: str = Field(max_length=10)
    # The four items in scale order: outcome = individual, interpersonal, social, overall;
    # session = relationship, goals and topics, approach, overall.
    item1: int
    item2: int
    item3: int
    item4: int
    total: int
    flags: str = Field(default="", max_length=200)
    submitted_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class ClinicianNote(SQLModel, table=True):
    """A clinician's note on a client: ``private`` (clinician only) or ``shared`` (client reads)."""

    __tablename__ = "clinician_notes"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinician_id: uuid.UUID = Field(index=True)
    client_id: uuid.UUID = Field(index=True)
    session_id: uuid.UUID | None = Field(default=None, foreign_key="session_records.session_id")
    visibility: str = Field(max_length=10)
    text: str = Field(sa_type=Text)
    written_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class ChatTranscriptLine(SQLModel, table=True):
    """One message of a call's chat, kept in the clinician's private record when the clinic
    chose to keep transcripts. Clinical text: read only by the session's clinician, audited,
    never in an event, a webhook or a log."""

    __tablename__ = "chat_transcript_lines"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(foreign_key="session_records.session_id", index=True)
    sender_id: uuid.UUID
    sender_role: str = Field(max_length=20)
    text: str = Field(sa_type=Text)
    # When signaling relayed it (its chat-message's `at`), and when the clinician's page kept it.
    sent_at: datetime = Field(sa_type=UtcDateTime)
    saved_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class AuditEntry(AuditFields, table=True):
    """Who read or changed which clinical record, and when. Append-only; never clinical text.

    ``actor_id`` is empty when records itself changed a record on an event (``actor_role``
    is then ``system``).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_resource", "resource_type", "resource_id"),
        Index("ix_audit_entries_seq", "seq", unique=True),
    )


class MeasureAssignment(SQLModel, table=True):
    """A clinician asks a client to answer an instrument on a cadence (one per instrument)."""

    __tablename__ = "measure_assignments"
    __table_args__ = (
        UniqueConstraint(
            "clinician_id", "client_id", "instrument", name="uq_measure_assignments_pair"
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinician_id: uuid.UUID
    client_id: uuid.UUID = Field(index=True)
    instrument: str = Field(max_length=20)
    # intake, every-session, every-n-sessions or before-discharge (measures.rules.Cadence).
    cadence: str = Field(max_length=20)
    every_n: int | None = None
    active: bool = Field(default=True)
    assigned_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class MeasureResponse(SQLModel, table=True):
    """A client's answers to one instrument version, with its score. The answers are
    clinical: read through the API by the pair only, never logged or sent as events."""

    __tablename__ = "measure_responses"
    __table_args__ = (Index("ix_measure_responses_client", "client_id", "completed_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    assignment_id: uuid.UUID | None = Field(default=None, foreign_key="measure_assignments.id")
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    session_id: uuid.UUID | None = Field(default=None, foreign_key="session_records.session_id")
    instrument: str = Field(max_length=20)
    instrument_version: str = Field(max_length=20)
    # When it was answered relative to the session: before, waiting, after.
    phase: str = Field(max_length=10)
    # One value per item in the instrument's order; null where the client skipped it.
    answers: list[int | None] = Field(sa_column=Column(JSON, nullable=False))
    answered: int
    total: int
    band: str = Field(max_length=20)
    prorated: bool = Field(default=False)
    subscales: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    sessions_held: int = Field(default=0)
    completed_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class SafetyFlag(SQLModel, table=True):
    """A risk answer that the clinician must acknowledge by ``due_at``; past it, records
    escalates it to the clinic's on-call. ``due_at`` is stored, so restarts keep it."""

    __tablename__ = "safety_flags"
    __table_args__ = (
        Index("ix_safety_flags_due", "status", "due_at"),
        Index("ix_safety_flags_clinician", "clinician_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinician_id: uuid.UUID
    client_id: uuid.UUID = Field(index=True)
    response_id: uuid.UUID | None = Field(default=None, foreign_key="measure_responses.id")
    instrument: str = Field(max_length=20)
    # What raised it (phq-9-item-9, or a clinic's own rule).
    rule: str = Field(max_length=40)
    severity: str = Field(max_length=10)
    # open -> escalated -> acknowledged, or open -> acknowledged.
    status: str = Field(default="open", max_length=20)
    raised_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    due_at: datetime = Field(sa_type=UtcDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # The on-call clinician or admin it went to (None: every admin).
    escalated_to: uuid.UUID | None = None
    acknowledged_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    acknowledged_by: uuid.UUID | None = None
    action: str | None = Field(default=None, max_length=30)
    # Clinical text: stays in the record, never in an event, a webhook or a log.
    action_note: str | None = Field(default=None, sa_type=Text)


class SafetyPlanVersion(SQLModel, table=True):
    """One version of a client's safety plan (the Stanley-Brown headings); each save is a new
    version, the older ones stay readable."""

    __tablename__ = "safety_plan_versions"

    client_id: uuid.UUID = Field(primary_key=True)
    version: int = Field(primary_key=True)
    clinician_id: uuid.UUID
    sections: dict[str, list[str]] = Field(sa_column=Column(JSON, nullable=False))
    author_id: uuid.UUID
    author_role: str = Field(max_length=20)
    saved_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class ConsentDocument(SQLModel, table=True):
    """One version of the clinic's telehealth consent: what a client reads and signs.

    Published by an admin, never edited: a change is a new version, and every older version
    stays, since signatures point at the exact text the client read (``sha256`` of it).
    """

    __tablename__ = "consent_documents"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Increasing: the highest is the current version.
    version: int = Field(unique=True)
    title: str = Field(max_length=200)
    text: str = Field(sa_type=Text)
    # Hex SHA-256 of the UTF-8 text: what the signature says the client saw.
    sha256: str = Field(max_length=64)
    published_by: uuid.UUID
    published_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class ConsentSignature(SQLModel, table=True):
    """A client's signature of one consent version; withdrawing keeps the row and says when.

    The typed name is part of the signed record: it never enters an event, webhook or log.
    """

    __tablename__ = "consent_signatures"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    client_id: uuid.UUID = Field(index=True)
    document_id: uuid.UUID = Field(foreign_key="consent_documents.id")
    version: int
    sha256: str = Field(max_length=64)
    typed_name: str = Field(max_length=200)
    signed_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
