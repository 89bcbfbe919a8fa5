"""The catalog of every event Rapport publishes.

Each payload declares its wire type as an explicit, dotted, versioned string; nothing is
derived from class names, so renaming a class never changes the contract. A breaking change
is a new class with a new version, never an edit. Payloads carry ids, roles, times and
statuses: no clinical free text (notes, goal statements) ever travels on the bus.

Decoding goes through one discriminated union (:data:`EventPayload`) keyed on ``type``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from shared.events.reasons import EndReason, LeaveReason

Role = Literal["client", "clinician", "admin"]
# A participant's role in a session: an account role, or "guest" for someone the appointment
# invited besides its client (an interpreter, a family member).
SessionRole = Role | Literal["guest"]
# Billing codes come from a settings table (payers differ), so they cannot be literals; the
# patterns keep them codes: a CPT or HCPCS code is five letters or digits, a CMS place of
# service two digits.
ProcedureCode = Annotated[str, Field(pattern=r"^[0-9A-Z]{5}$")]
PlaceOfServiceCode = Annotated[str, Field(pattern=r"^[0-9]{2}$")]
# Why a guest without an account is in a session: chosen from this list, never typed, so no
# name or description of the guest can travel with it.
GuestRelationship = Literal["interpreter", "family-member", "caregiver", "supervisor", "other"]

TOPIC_IDENTITY = "rapport.identity"
TOPIC_RECORDS = "rapport.records"
TOPIC_SIGNALING = "rapport.signaling"
TOPIC_WEBHOOKS = "rapport.webhooks"


def dead_letter_topic(topic: str) -> str:
    """Where events that a consumer of ``topic`` cannot process end up."""
    return f"{topic}.dlq"


class Payload(BaseModel):
    """Base of every event payload. ``type`` is the discriminator and the CloudEvent type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str]
    # The field holding the id of the aggregate (session, user, goal, ...) the event is about:
    # its str() is the Kafka record key. Kafka keeps order only within a partition and picks the
    # partition from the key, so one aggregate's events share a key, land on one partition and
    # are consumed in the order they were written. Changing an event's key field moves its
    # aggregate's events to another partition (no ordering against earlier ones across a deploy).
    key_field: ClassVar[str]
    type: str

    def partition_key(self) -> str:
        """The aggregate id that keeps one aggregate's events in order on one partition."""
        return str(getattr(self, self.key_field))

    def data(self) -> dict[str, Any]:
        """The CloudEvent ``data``: the payload without its type (that travels as ce_type)."""
        return self.model_dump(mode="json", exclude={"type"})


# identity ---------------------------------------------------------------------------------


class UserRegistered(Payload):
    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "user_id"
    type: Literal["rapport.identity.user.registered.v1"] = "rapport.identity.user.registered.v1"
    user_id: uuid.UUID
    role: Role
    registered_at: datetime


class UserDeactivated(Payload):
    """An account can no longer sign in; tokens it holds must be refused everywhere."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "user_id"
    type: Literal["rapport.identity.user.deactivated.v1"] = "rapport.identity.user.deactivated.v1"
    user_id: uuid.UUID
    deactivated_at: datetime


class UserRoleChanged(Payload):
    """An account's role changed; tokens issued before ``changed_at`` carry the old role."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "user_id"
    type: Literal["rapport.identity.user.role_changed.v1"] = "rapport.identity.user.role_changed.v1"
    user_id: uuid.UUID
    old_role: Role
    new_role: Role
    changed_at: datetime


class TokensRevoked(Payload):
    """Tokens of a user issued at or before ``revoked_before`` must be refused."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "user_id"
    type: Literal["rapport.identity.tokens.revoked.v1"] = "rapport.identity.tokens.revoked.v1"
    user_id: uuid.UUID
    family_id: uuid.UUID | None
    # idle_timeout / absolute_lifetime: the sign-in expired (identity's session lifetimes).
    reason: Literal[
        "logout",
        "refresh_reuse",
        "deactivated",
        "role_changed",
        "password_changed",
        "idle_timeout",
        "absolute_lifetime",
    ]
    revoked_before: datetime


class PartnerRegistered(Payload):
    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "client_id"
    type: Literal["rapport.identity.partner.registered.v1"] = (
        "rapport.identity.partner.registered.v1"
    )
    client_id: str
    scopes: list[str]
    registered_at: datetime


class PartnerSecretRotated(Payload):
    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "client_id"
    type: Literal["rapport.identity.partner.secret_rotated.v1"] = (
        "rapport.identity.partner.secret_rotated.v1"
    )
    client_id: str
    rotated_at: datetime


class PartnerAccessGranted(Payload):
    """A clinician let a partner app act on (and hear about) their practice's data."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "client_id"
    type: Literal["rapport.identity.partner.access_granted.v1"] = (
        "rapport.identity.partner.access_granted.v1"
    )
    client_id: str
    clinician_id: uuid.UUID
    granted_at: datetime


class PartnerAccessRevoked(Payload):
    """A clinician withdrew a partner app's access to their practice's data."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    # The same key as the grant: grant and revocation stay in order on one partition.
    key_field: ClassVar[str] = "client_id"
    type: Literal["rapport.identity.partner.access_revoked.v1"] = (
        "rapport.identity.partner.access_revoked.v1"
    )
    client_id: str
    clinician_id: uuid.UUID
    revoked_at: datetime


class InvitationAccepted(Payload):
    """A client registered with a clinician's invitation: the two are to be linked."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    # The client's key, like their user.registered (written in the same transaction): a
    # consumer hears of the account before the acceptance that names it.
    key_field: ClassVar[str] = "client_id"
    type: Literal["rapport.identity.invitation.accepted.v1"] = (
        "rapport.identity.invitation.accepted.v1"
    )
    invitation_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    accepted_at: datetime


class PasswordResetRequested(Payload):
    """Someone asked for a reset link for an existing, active account.

    The token is not here (a token on the bus is a credential in every consumer's logs and in
    the topic's retention): notifications fetches the link from identity over its internal,
    authenticated API when it sends the email.
    """

    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "user_id"
    type: Literal["rapport.identity.password_reset.requested.v1"] = (
        "rapport.identity.password_reset.requested.v1"
    )
    reset_id: uuid.UUID
    user_id: uuid.UUID
    requested_at: datetime
    expires_at: datetime


class InvitationIssued(Payload):
    """A clinician invited someone to join; like a reset, the link stays in identity."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "invitation_id"
    type: Literal["rapport.identity.invitation.issued.v1"] = "rapport.identity.invitation.issued.v1"
    invitation_id: uuid.UUID
    clinician_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime


class SessionGuestInvited(Payload):
    """A clinician invited a guest without an account (an interpreter, a family member) to
    one session. Like an invitation, the one-time link stays in identity; signaling lets the
    guest into that session's room and records lists them in its attendance, each only when
    ``clinician_id`` is the session's own clinician."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    # The session's key: its guests' invitations and revocations stay in order.
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.identity.session.guest_invited.v1"] = (
        "rapport.identity.session.guest_invited.v1"
    )
    guest_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    relationship: GuestRelationship
    invited_at: datetime
    expires_at: datetime


class SessionGuestRevoked(Payload):
    """The clinician revoked a guest: their link and tokens stop working, and a guest still in
    the room leaves it."""

    topic: ClassVar[str] = TOPIC_IDENTITY
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.identity.session.guest_revoked.v1"] = (
        "rapport.identity.session.guest_revoked.v1"
    )
    guest_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    revoked_at: datetime


# records ----------------------------------------------------------------------------------


class AppointmentScheduled(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.records.appointment.scheduled.v1"] = (
        "rapport.records.appointment.scheduled.v1"
    )
    appointment_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str = "booked"
    # Who may be in the call at once (clinician and client count), and who else was invited
    # (an interpreter, a family member). Added with defaults, so older events still decode.
    max_participants: int = 2
    invited_participant_ids: list[uuid.UUID] = Field(default_factory=list)
    booked_by: Literal["clinician", "client", "partner"] = "clinician"


class GoalUpdated(Payload):
    """A goal update was logged. The note stays in records; only the rating travels."""

    topic: ClassVar[str] = TOPIC_RECORDS
    type: Literal["rapport.records.goal.updated.v1"] = "rapport.records.goal.updated.v1"
    goal_update_id: uuid.UUID
    goal_id: uuid.UUID
    session_id: uuid.UUID | None
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    author_role: Role
    progress: int
    recorded_at: datetime

    def partition_key(self) -> str:
        # Not one field (so no key_field): the session's key, or the goal's for an update
        # logged outside a session.
        return str(self.session_id or self.goal_id)


class CallQualitySummary(BaseModel):
    """A session's connection quality over every participant's samples (numbers only)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    samples: int
    round_trip_ms_median: float | None
    round_trip_ms_p95: float | None
    packet_loss_mean: float | None
    jitter_ms_mean: float | None
    bitrate_kbps_min: float | None


class SessionCompleted(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.records.session.completed.v1"] = "rapport.records.session.completed.v1"
    session_id: uuid.UUID
    appointment_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    outcome: Literal["completed", "no-show", "interrupted"]
    started_at: datetime | None
    ended_at: datetime
    duration_seconds: int
    attended_by: list[uuid.UUID]
    goal_update_count: int
    # What records knew of the call's quality when it announced the completion (added with a
    # default, so events written before it still decode).
    quality: CallQualitySummary | None = None


class BillingAttendee(BaseModel):
    """Someone who joined the call, by id and session role."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_id: uuid.UUID
    role: SessionRole


class SessionBillingReady(Payload):
    """What a billing system needs of a completed session, derived by records' billing table
    (docs/billing.md): codes, ids and times only, never the client's stated location."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.records.session.billing_ready.v1"] = (
        "rapport.records.session.billing_ready.v1"
    )
    session_id: uuid.UUID
    appointment_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    started_at: datetime | None
    ended_at: datetime
    # From the call's connection to its end: the time the codes were chosen by.
    connected_seconds: int
    # The psychotherapy CPT code; None when the session is too short for any.
    cpt_code: ProcedureCode | None
    # More than one client attended (the group code).
    group: bool
    # The CMS place-of-service code: the client's home, or elsewhere.
    place_of_service: PlaceOfServiceCode
    # True: no participant received video; None: no participant's client reported what it
    # received, so nobody knows.
    audio_only: bool | None
    attendees: list[BillingAttendee]


class CareRelationshipStarted(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "relationship_id"
    type: Literal["rapport.records.care_relationship.started.v1"] = (
        "rapport.records.care_relationship.started.v1"
    )
    relationship_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    started_at: datetime


class _GoalEvent(Payload):
    """A goal's lifecycle moved. The statement stays in records; ids and statuses travel."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "goal_id"
    goal_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    lifecycle_status: str
    at: datetime


class GoalProposed(_GoalEvent):
    type: Literal["rapport.records.goal.proposed.v1"] = "rapport.records.goal.proposed.v1"
    proposed_by: Role


class GoalAgreed(_GoalEvent):
    """Both parties have agreed to the goal: it is active."""

    type: Literal["rapport.records.goal.agreed.v1"] = "rapport.records.goal.agreed.v1"


class GoalAchieved(_GoalEvent):
    """The clinician marked the goal's achievement status ``achieved``."""

    type: Literal["rapport.records.goal.achieved.v1"] = "rapport.records.goal.achieved.v1"


class CheckInSubmitted(Payload):
    """A client's outcome (ORS-shaped) or session (SRS-shaped) check-in: totals, no text."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.records.checkin.submitted.v1"] = "rapport.records.checkin.submitted.v1"
    check_in_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    kind: Literal["outcome", "session"]
    total: int
    submitted_at: datetime


class _CheckInFlag(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "session_id"
    check_in_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    total: int
    at: datetime


class AllianceConcernFlagged(_CheckInFlag):
    """A session check-in totalled below 36 or rated an item below 9."""

    type: Literal["rapport.records.alliance.concern_flagged.v1"] = (
        "rapport.records.alliance.concern_flagged.v1"
    )
    lowest_item: int


class OutcomeReliableChange(_CheckInFlag):
    """The outcome total moved by 5 or more since the client's previous outcome check-in."""

    type: Literal["rapport.records.outcome.reliable_change.v1"] = (
        "rapport.records.outcome.reliable_change.v1"
    )
    previous_total: int
    change: int


class OutcomeBelowCutoff(_CheckInFlag):
    """The outcome total is at or below the clinical cutoff (25)."""

    type: Literal["rapport.records.outcome.below_cutoff.v1"] = (
        "rapport.records.outcome.below_cutoff.v1"
    )


class _AppointmentChange(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "session_id"
    appointment_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str
    at: datetime


class AppointmentRescheduled(_AppointmentChange):
    """The appointment moved; ``starts_at``/``ends_at`` are the new times."""

    type: Literal["rapport.records.appointment.rescheduled.v1"] = (
        "rapport.records.appointment.rescheduled.v1"
    )
    # As on AppointmentScheduled (defaults keep older events decoding).
    max_participants: int = 2
    invited_participant_ids: list[uuid.UUID] = Field(default_factory=list)


class AppointmentCancelled(_AppointmentChange):
    type: Literal["rapport.records.appointment.cancelled.v1"] = (
        "rapport.records.appointment.cancelled.v1"
    )
    cancelled_by: Role | Literal["partner"]


class AppointmentNoShow(_AppointmentChange):
    type: Literal["rapport.records.appointment.no_show.v1"] = (
        "rapport.records.appointment.no_show.v1"
    )


class AppointmentReminderDue(Payload):
    """A booked appointment starts in ``lead_hours`` (sent once per appointment and lead time;
    a rescheduled appointment is reminded again for its new time)."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.records.appointment.reminder_due.v1"] = (
        "rapport.records.appointment.reminder_due.v1"
    )
    appointment_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    lead_hours: float
    at: datetime


class _PlanEvent(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "relationship_id"
    relationship_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    ready: bool
    at: datetime


class PlanEndingStarted(_PlanEvent):
    """The clinician began the planned end of treatment; ``ready`` is the readiness summary."""

    type: Literal["rapport.records.plan.ending_started.v1"] = (
        "rapport.records.plan.ending_started.v1"
    )


class PlanCompleted(_PlanEvent):
    type: Literal["rapport.records.plan.completed.v1"] = "rapport.records.plan.completed.v1"


class BreakGlassUsed(Payload):
    """An admin read clinical records under break-glass. The reason stays in the audit log."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "resource_id"
    type: Literal["rapport.records.audit.break_glass_used.v1"] = (
        "rapport.records.audit.break_glass_used.v1"
    )
    admin_id: uuid.UUID | None
    resource_type: str
    resource_id: str
    at: datetime


class MeasureCompleted(Payload):
    """A client answered a standard measure (PHQ-9, GAD-7, WAI-SR). The score only: the item
    answers stay in records."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "client_id"
    type: Literal["rapport.records.measure.completed.v1"] = "rapport.records.measure.completed.v1"
    response_id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    session_id: uuid.UUID | None
    instrument: Literal["phq-9", "gad-7", "wai-sr"]
    total: int
    # The instrument's severity band (WAI-SR has none: "alliance").
    band: Literal["minimal", "mild", "moderate", "moderately-severe", "severe", "alliance"]
    completed_at: datetime


class ConsentDocumentPublished(Payload):
    """An admin published a new version of the clinic's telehealth consent: from now on a
    client must have signed this version (signaling holds joins until they have). Ids and the
    version number only, never the document's text."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "document_id"
    type: Literal["rapport.records.consent.document_published.v1"] = (
        "rapport.records.consent.document_published.v1"
    )
    document_id: uuid.UUID
    version: int
    at: datetime


class _ConsentEvent(Payload):
    """A client's consent changed. Ids and the version number only: never the document's
    text, never the name the client typed."""

    topic: ClassVar[str] = TOPIC_RECORDS
    # A client's signatures and withdrawals stay in the order they happened.
    key_field: ClassVar[str] = "client_id"
    signature_id: uuid.UUID
    client_id: uuid.UUID
    document_id: uuid.UUID
    version: int
    at: datetime


class ConsentSigned(_ConsentEvent):
    """A client signed a version of the clinic's telehealth consent."""

    type: Literal["rapport.records.consent.signed.v1"] = "rapport.records.consent.signed.v1"


class ConsentWithdrawn(_ConsentEvent):
    """A client withdrew their consent (the signature stays on file, with when)."""

    type: Literal["rapport.records.consent.withdrawn.v1"] = "rapport.records.consent.withdrawn.v1"


class _SafetyFlagEvent(Payload):
    """A safety flag's life: ids, instrument, severity and times, never the answers."""

    topic: ClassVar[str] = TOPIC_RECORDS
    key_field: ClassVar[str] = "client_id"
    flag_id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    instrument: Literal["phq-9", "gad-7", "wai-sr"]
    severity: Literal["low", "medium", "high"]


class SafetyFlagRaised(_SafetyFlagEvent):
    """A risk answer (PHQ-9 item 9 above 0, or a clinic's rule) needs the clinician by
    ``acknowledge_by``."""

    type: Literal["rapport.records.safety.flag.raised.v1"] = "rapport.records.safety.flag.raised.v1"
    raised_at: datetime
    acknowledge_by: datetime


class SafetyFlagEscalated(_SafetyFlagEvent):
    """Nobody acknowledged the flag by its deadline: it went to the on-call (None: every
    admin)."""

    type: Literal["rapport.records.safety.flag.escalated.v1"] = (
        "rapport.records.safety.flag.escalated.v1"
    )
    escalated_to: uuid.UUID | None
    raised_at: datetime
    escalated_at: datetime


class SafetyFlagAcknowledged(_SafetyFlagEvent):
    """Someone acknowledged the flag and recorded what was done."""

    type: Literal["rapport.records.safety.flag.acknowledged.v1"] = (
        "rapport.records.safety.flag.acknowledged.v1"
    )
    acknowledged_by: uuid.UUID | None
    action: Literal["reviewed-in-session", "contacted", "safety-plan-updated", "referred"]
    acknowledged_at: datetime


# signaling --------------------------------------------------------------------------------


class _ParticipantEvent(Payload):
    topic: ClassVar[str] = TOPIC_SIGNALING
    key_field: ClassVar[str] = "session_id"
    session_id: uuid.UUID
    user_id: uuid.UUID
    role: SessionRole
    at: datetime


class ParticipantCheckedIn(_ParticipantEvent):
    type: Literal["rapport.signaling.participant.checked_in.v1"] = (
        "rapport.signaling.participant.checked_in.v1"
    )


class ParticipantAdmitted(_ParticipantEvent):
    type: Literal["rapport.signaling.participant.admitted.v1"] = (
        "rapport.signaling.participant.admitted.v1"
    )
    admitted_by: uuid.UUID


class ParticipantJoined(_ParticipantEvent):
    type: Literal["rapport.signaling.participant.joined.v1"] = (
        "rapport.signaling.participant.joined.v1"
    )


class ParticipantLeft(_ParticipantEvent):
    type: Literal["rapport.signaling.participant.left.v1"] = "rapport.signaling.participant.left.v1"
    # Why (added with a default, so events written before it still decode).
    reason: LeaveReason = LeaveReason.LEFT


class CallConnected(Payload):
    topic: ClassVar[str] = TOPIC_SIGNALING
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.signaling.call.connected.v1"] = "rapport.signaling.call.connected.v1"
    session_id: uuid.UUID
    at: datetime


class SessionEnded(Payload):
    topic: ClassVar[str] = TOPIC_SIGNALING
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.signaling.session.ended.v1"] = "rapport.signaling.session.ended.v1"
    session_id: uuid.UUID
    ended_by: uuid.UUID | None
    reason: EndReason
    at: datetime


class SessionStarted(Payload):
    """The clinician admitted the first client: the session is under way (once per session)."""

    topic: ClassVar[str] = TOPIC_SIGNALING
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.signaling.session.started.v1"] = "rapport.signaling.session.started.v1"
    session_id: uuid.UUID
    at: datetime


class GoalProgressShared(Payload):
    """The clinician pushed progress on a goal during the call; records stores it as a goal
    update of the session (``goal_update_id`` makes that idempotent). No note travels."""

    topic: ClassVar[str] = TOPIC_SIGNALING
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.signaling.goal.progress_shared.v1"] = (
        "rapport.signaling.goal.progress_shared.v1"
    )
    goal_update_id: uuid.UUID
    goal_id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    progress: int = Field(ge=0, le=10)
    at: datetime


class CallQuality(Payload):
    """A connection-quality sample one participant's client reported (at most one per
    participant per sampling interval)."""

    topic: ClassVar[str] = TOPIC_SIGNALING
    key_field: ClassVar[str] = "session_id"
    type: Literal["rapport.signaling.call.quality.v1"] = "rapport.signaling.call.quality.v1"
    session_id: uuid.UUID
    user_id: uuid.UUID
    role: SessionRole
    round_trip_ms: float | None
    packet_loss: float | None
    jitter_ms: float | None
    bitrate_kbps: float | None
    at: datetime
    # Video frames the participant's client had decoded so far (None: it did not say); what
    # tells an audio-only session from a video one (added with a default, so events written
    # before it still decode).
    video_frames_decoded: int | None = None


# webhooks ---------------------------------------------------------------------------------


class WebhookEndpointDisabled(Payload):
    """A partner's endpoint stopped receiving: it answered 410 Gone, or failed for too long."""

    topic: ClassVar[str] = TOPIC_WEBHOOKS
    key_field: ClassVar[str] = "endpoint_id"
    type: Literal["rapport.webhooks.endpoint.disabled.v1"] = "rapport.webhooks.endpoint.disabled.v1"
    endpoint_id: uuid.UUID
    owner_id: str
    reason: Literal["gone", "failing"]
    failing_since: datetime | None
    disabled_at: datetime


EventPayload = Annotated[
    UserRegistered
    | UserDeactivated
    | UserRoleChanged
    | TokensRevoked
    | PartnerRegistered
    | PartnerSecretRotated
    | PartnerAccessGranted
    | PartnerAccessRevoked
    | InvitationAccepted
    | PasswordResetRequested
    | InvitationIssued
    | SessionGuestInvited
    | SessionGuestRevoked
    | AppointmentScheduled
    | GoalUpdated
    | SessionCompleted
    | SessionBillingReady
    | CareRelationshipStarted
    | GoalProposed
    | GoalAgreed
    | GoalAchieved
    | CheckInSubmitted
    | AllianceConcernFlagged
    | OutcomeReliableChange
    | OutcomeBelowCutoff
    | AppointmentRescheduled
    | AppointmentCancelled
    | AppointmentNoShow
    | AppointmentReminderDue
    | BreakGlassUsed
    | PlanEndingStarted
    | PlanCompleted
    | MeasureCompleted
    | ConsentDocumentPublished
    | ConsentSigned
    | ConsentWithdrawn
    | SafetyFlagRaised
    | SafetyFlagEscalated
    | SafetyFlagAcknowledged
    | ParticipantCheckedIn
    | ParticipantAdmitted
    | ParticipantJoined
    | ParticipantLeft
    | CallConnected
    | SessionEnded
    | GoalProgressShared
    | CallQuality
    | SessionStarted
    | WebhookEndpointDisabled,
    Field(discriminator="type"),
]

_payload_adapter: TypeAdapter[EventPayload] = TypeAdapter(EventPayload)


def decode_payload(event_type: str, data: Any) -> EventPayload:
    """Decode CloudEvent data of ``event_type`` into its payload model.

    Raises pydantic.ValidationError for unknown types or data that does not fit the type.
    """
    if not isinstance(data, dict):
        raise TypeError(f"event data must be a JSON object, got {type(data).__name__}")
    return _payload_adapter.validate_python({**data, "type": event_type})


def payload_class(event_type: str) -> type[Payload] | None:
    """The payload class of ``event_type``, or None when the catalog has no such type."""
    union = EventPayload.__origin__  # type: ignore[attr-defined]
    for model in union.__args__:
        if model.model_fields["type"].default == event_type:
            found: type[Payload] = model
            return found
    return None


def catalog_types() -> list[str]:
    """Every event type in the catalog, for docs and for webhook subscriptions."""
    union = EventPayload.__origin__  # type: ignore[attr-defined]
    return sorted(m.model_fields["type"].default for m in union.__args__)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the union, the source for docs/events (AsyncAPI)."""
    return _payload_adapter.json_schema()
