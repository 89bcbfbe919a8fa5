"""Which events an endpoint subscribes to: full catalog types, short names, or patterns.

A selector is matched (shell-style: ``*``, ``?``, ``[...]``) against both the full type
(``rapport.records.session.completed.v1``) and its short name (``session.completed``), so
``"*"``, ``"session.*"``, ``"session.completed"`` and the full type all select that event.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from shared.events.catalog import (
    AllianceConcernFlagged,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    AppointmentScheduled,
    BreakGlassUsed,
    CallConnected,
    CallQuality,
    CareRelationshipStarted,
    CheckInSubmitted,
    ConsentDocumentPublished,
    ConsentSigned,
    ConsentWithdrawn,
    GoalAchieved,
    GoalAgreed,
    GoalProgressShared,
    GoalProposed,
    GoalUpdated,
    InvitationAccepted,
    InvitationIssued,
    MeasureCompleted,
    OutcomeBelowCutoff,
    OutcomeReliableChange,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    PartnerAccessGranted,
    PartnerAccessRevoked,
    PartnerRegistered,
    PartnerSecretRotated,
    PasswordResetRequested,
    Payload,
    PlanCompleted,
    PlanEndingStarted,
    SafetyFlagAcknowledged,
    SafetyFlagEscalated,
    SafetyFlagRaised,
    SessionBillingReady,
    SessionCompleted,
    SessionEnded,
    SessionGuestInvited,
    SessionGuestRevoked,
    SessionStarted,
    TokensRevoked,
    UserDeactivated,
    UserRegistered,
    UserRoleChanged,
    WebhookEndpointDisabled,
)

# What partners may subscribe to: events about a clinician's practice that carry ids, times and
# statuses only.
PARTNER_EVENTS: tuple[type[Payload], ...] = (
    UserDeactivated,
    AppointmentScheduled,
    AppointmentRescheduled,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    CareRelationshipStarted,
    GoalProposed,
    GoalAgreed,
    GoalUpdated,
    SessionCompleted,
    # Codes, ids and times for billing partners: never where the client was.
    SessionBillingReady,
    ParticipantCheckedIn,
    ParticipantAdmitted,
    ParticipantJoined,
    ParticipantLeft,
    SessionStarted,
    CallConnected,
    SessionEnded,
    # Scores and bands only (no item answers): what a practice's EHR charts.
    MeasureCompleted,
)
# Every other catalog event, and why partners are not offered it (a test keeps the two lists
# covering the whole catalog, so a new event is a decision, not an accident).
NOT_OFFERED: dict[type[Payload], str] = {
    UserRegistered: "a new account belongs to no clinician's practice yet",
    InvitationAccepted: (
        "it links a person to a clinician: partners learn of that link from "
        "care_relationship.started, held to the clinician's grants like every event"
    ),
    UserRoleChanged: "security plumbing",
    PasswordResetRequested: "security plumbing: it asks notifications to send a reset link",
    InvitationIssued: "it asks notifications to email an invitation link to a person",
    SessionGuestInvited: (
        "who accompanies a client (an interpreter, a family member) is the client's own "
        "matter; partners see a guest's presence by role in participant.joined"
    ),
    SessionGuestRevoked: "access plumbing: it ends a guest's link and tokens",
    TokensRevoked: "security plumbing",
    PartnerRegistered: "about a partner app's own credentials: security plumbing",
    PartnerSecretRotated: "about a partner app's own credentials: security plumbing",
    PartnerAccessGranted: "access plumbing: it decides which events a partner app hears",
    PartnerAccessRevoked: "access plumbing: it decides which events a partner app hears",
    CheckInSubmitted: "check-in scores are clinical measures",
    AllianceConcernFlagged: "derived from check-in scores: a clinical measure",
    OutcomeReliableChange: "derived from check-in scores: a clinical measure",
    OutcomeBelowCutoff: "derived from check-in scores: a clinical measure",
    GoalAchieved: "a clinician's judgement of a client's goal: clinical",
    GoalProgressShared: "records turns it into goal.updated",
    CallQuality: "per-participant network samples",
    BreakGlassUsed: "an audit record for the practice's operators",
    PlanEndingStarted: "a readiness summary of a client's treatment: clinical",
    PlanCompleted: "the end of a client's treatment: clinical",
    WebhookEndpointDisabled: "for operators: it names other partners' endpoints",
    SafetyFlagRaised: "a client's risk answer: handled inside the practice, on its dashboard",
    SafetyFlagEscalated: "a client's risk answer: handled inside the practice, on its dashboard",
    SafetyFlagAcknowledged: "a client's risk answer: handled inside the practice",
    ConsentDocumentPublished: "the clinic's own paperwork: it concerns no clinician's client",
    ConsentSigned: (
        "it names a client and no clinician, so no clinician's grant can scope it; a "
        "partner reads consent in the FHIR export (Consent)"
    ),
    ConsentWithdrawn: (
        "it names a client and no clinician, so no clinician's grant can scope it; a "
        "partner reads consent in the FHIR export (Consent)"
    ),
}
# Sent only by "send test event", never produced by the catalog.
TEST_EVENT_TYPE = "rapport.webhooks.endpoint.test.v1"


def partner_event_types() -> list[str]:
    """Every event type an endpoint may subscribe to."""
    return sorted([p.model_fields["type"].default for p in PARTNER_EVENTS] + [TEST_EVENT_TYPE])


def short_name(event_type: str) -> str:
    """``rapport.<producer>.<name...>.v<N>`` → ``<name...>`` (what partners see as ``type``)."""
    parts = event_type.split(".")
    if len(parts) >= 4 and parts[0] == "rapport" and parts[-1].startswith("v"):
        return ".".join(parts[2:-1])
    return event_type


def selects(selector: str, event_type: str) -> bool:
    """Whether one selector picks ``event_type``."""
    return fnmatchcase(event_type, selector) or fnmatchcase(short_name(event_type), selector)


def subscribes_to(selectors: Iterable[str], event_type: str) -> bool:
    """Whether any of an endpoint's selectors picks ``event_type``."""
    return any(selects(selector, event_type) for selector in selectors)


def unknown_selectors(selectors: Iterable[str]) -> list[str]:
    """The selectors that pick no event type partners may receive (typos, wrong versions)."""
    known = partner_event_types()
    return [s for s in selectors if not any(selects(s, event_type) for event_type in known)]
