"""Every event's Kafka key: the aggregate id that keeps that aggregate's events in order.

The table below is the contract: a new event type must be added to it (and so must say
which field its key comes from), and changing an existing row changes which partition an
aggregate's events land on, which breaks per-aggregate ordering across a deploy.
"""

from __future__ import annotations

import itertools
import typing
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from shared.events.catalog import EventPayload, GoalUpdated, Payload, catalog_types

# {event type: the field its partition key is str() of}
KEY_FIELDS: dict[str, str] = {
    # identity
    "rapport.identity.user.registered.v1": "user_id",
    "rapport.identity.user.deactivated.v1": "user_id",
    "rapport.identity.user.role_changed.v1": "user_id",
    "rapport.identity.tokens.revoked.v1": "user_id",
    "rapport.identity.partner.registered.v1": "client_id",
    "rapport.identity.partner.secret_rotated.v1": "client_id",
    "rapport.identity.partner.access_granted.v1": "client_id",
    "rapport.identity.partner.access_revoked.v1": "client_id",
    "rapport.identity.invitation.accepted.v1": "client_id",
    "rapport.identity.password_reset.requested.v1": "user_id",
    "rapport.identity.invitation.issued.v1": "invitation_id",
    "rapport.identity.session.guest_invited.v1": "session_id",
    "rapport.identity.session.guest_revoked.v1": "session_id",
    # records
    "rapport.records.appointment.scheduled.v1": "session_id",
    # GoalUpdated: session_id, or goal_id when it has no session (see the test below).
    "rapport.records.goal.updated.v1": "session_id",
    "rapport.records.session.completed.v1": "session_id",
    "rapport.records.session.billing_ready.v1": "session_id",
    "rapport.records.care_relationship.started.v1": "relationship_id",
    "rapport.records.goal.proposed.v1": "goal_id",
    "rapport.records.goal.agreed.v1": "goal_id",
    "rapport.records.goal.achieved.v1": "goal_id",
    "rapport.records.checkin.submitted.v1": "session_id",
    "rapport.records.alliance.concern_flagged.v1": "session_id",
    "rapport.records.outcome.reliable_change.v1": "session_id",
    "rapport.records.outcome.below_cutoff.v1": "session_id",
    "rapport.records.appointment.rescheduled.v1": "session_id",
    "rapport.records.appointment.cancelled.v1": "session_id",
    "rapport.records.appointment.no_show.v1": "session_id",
    "rapport.records.appointment.reminder_due.v1": "session_id",
    "rapport.records.audit.break_glass_used.v1": "resource_id",
    "rapport.records.plan.ending_started.v1": "relationship_id",
    "rapport.records.plan.completed.v1": "relationship_id",
    # A client's measures and safety flags stay in the order they happened.
    "rapport.records.measure.completed.v1": "client_id",
    "rapport.records.safety.flag.raised.v1": "client_id",
    "rapport.records.safety.flag.escalated.v1": "client_id",
    "rapport.records.safety.flag.acknowledged.v1": "client_id",
    "rapport.records.consent.document_published.v1": "document_id",
    "rapport.records.consent.signed.v1": "client_id",
    "rapport.records.consent.withdrawn.v1": "client_id",
    # signaling
    "rapport.signaling.participant.checked_in.v1": "session_id",
    "rapport.signaling.participant.admitted.v1": "session_id",
    "rapport.signaling.participant.joined.v1": "session_id",
    "rapport.signaling.participant.left.v1": "session_id",
    "rapport.signaling.call.connected.v1": "session_id",
    "rapport.signaling.session.ended.v1": "session_id",
    "rapport.signaling.goal.progress_shared.v1": "session_id",
    "rapport.signaling.call.quality.v1": "session_id",
    "rapport.signaling.session.started.v1": "session_id",
    # webhooks
    "rapport.webhooks.endpoint.disabled.v1": "endpoint_id",
}


def _union_members() -> list[type[Payload]]:
    (union, *_metadata) = typing.get_args(EventPayload)
    return list(typing.get_args(union))


P = TypeVar("P", bound=Payload)

_MEMBERS = {m.model_fields["type"].default: m for m in _union_members()}
_counter = itertools.count(1)


def _value_for(name: str, annotation: Any) -> Any:
    """A value for one field, distinct from every other field's (so a key taken from the
    wrong field cannot pass), of the field's own type where the key could come from it."""
    n = next(_counter)
    args = set(typing.get_args(annotation)) | {annotation}
    if uuid.UUID in args:
        return uuid.uuid4()
    if datetime in args:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=n)
    if str in args:
        return f"{name}-{uuid.uuid4()}"
    return f"<{name} {n}>"


def _build(member: type[P], **overrides: Any) -> P:
    values = {
        name: _value_for(name, info.annotation)
        for name, info in member.model_fields.items()
        if name != "type"
    }
    values.update(overrides)
    return typing.cast(P, member.model_construct(**values))


def test_the_table_names_a_key_for_every_event_in_the_union() -> None:
    assert len(_MEMBERS) == len(_union_members())
    assert set(KEY_FIELDS) == set(_MEMBERS) == set(catalog_types())


@pytest.mark.parametrize("event_type", sorted(KEY_FIELDS))
def test_partition_key_is_the_declared_field(event_type: str) -> None:
    member = _MEMBERS[event_type]
    field = KEY_FIELDS[event_type]
    assert field in member.model_fields
    payload = _build(member)
    key = payload.partition_key()
    assert type(key) is str
    assert key == str(getattr(payload, field))


def test_a_goal_update_without_a_session_is_keyed_by_its_goal() -> None:
    payload = _build(GoalUpdated, session_id=None)
    assert payload.partition_key() == str(payload.goal_id)
