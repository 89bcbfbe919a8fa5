"""Which events an endpoint subscribes to: full catalog types, short names, or patterns.

A selector is matched (shell-style: ``*``, ``?``, ``[...]``) against both the full type
(``rapport.records.session.completed.v1``) and its short name (``session.completed``), so
``"*"``, ``"session.*"``, ``"session.completed"`` and the full type all select that event.
"""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    AppointmentScheduled,
    CallConnected,
    CareRelationshipStarted,
    GoalAgreed,
    GoalProposed,
    GoalUpdated,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    Payload,
    SessionCompleted,
    SessionEnded,
    UserDeactivated,
)

# What partners may subscribe to: events about a clinician's practice that carry ids, times and
# statuses only. Not offered: user.registered (a new account belongs to no clinician's practice
# yet); invitation.accepted (partners learn of the link from care_relationship.started, which
# records publishes when it applies the acceptance, held to the clinician's grants like every
# event; the invitation itself stays between identity and records);
# user.role_changed and tokens.revoked (security plumbing); check-in scores and the flags
# derived from them (clinical measures); goal.progress_shared (records turns it into
# goal.updated); call.quality (per-participant network samples); webhooks.endpoint.disabled
# (for operators: it names other partners' endpoints).
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
    ParticipantCheckedIn,
    ParticipantAdmitted,
    ParticipantJoined,
    ParticipantLeft,
    CallConnected,
    SessionEnded,
)
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
