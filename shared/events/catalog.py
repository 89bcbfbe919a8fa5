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

Role = Literal["client", "clinician", "admin"]

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
    type: str

    def partition_key(self) -> str:
        """The aggregate id that keeps one aggregate's events in order on one partition."""
        raise NotImplementedError

    def data(self) -> dict[str, Any]:
        """The CloudEvent ``data``: the payload without its type (that travels as ce_type)."""
        return self.model_dump(mode="json", exclude={"type"})


# identity ---------------------------------------------------------------------------------


class UserRegistered(Payload):
    topic: ClassVar[str] = TOPIC_IDENTITY
    type: Literal["rapport.identity.user.registered.v1"] = "rapport.identity.user.registered.v1"
    user_id: uuid.UUID
    role: Role
    registered_at: datetime

    def partition_key(self) -> str:
        return str(self.user_id)


# records ----------------------------------------------------------------------------------


class AppointmentScheduled(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
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

    def partition_key(self) -> str:
        return str(self.session_id)


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
        return str(self.session_id or self.goal_id)


class SessionCompleted(Payload):
    topic: ClassVar[str] = TOPIC_RECORDS
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

    def partition_key(self) -> str:
        return str(self.session_id)


# signaling --------------------------------------------------------------------------------


class _ParticipantEvent(Payload):
    topic: ClassVar[str] = TOPIC_SIGNALING
    session_id: uuid.UUID
    user_id: uuid.UUID
    role: Role
    at: datetime

    def partition_key(self) -> str:
        return str(self.session_id)


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


class CallConnected(Payload):
    topic: ClassVar[str] = TOPIC_SIGNALING
    type: Literal["rapport.signaling.call.connected.v1"] = "rapport.signaling.call.connected.v1"
    session_id: uuid.UUID
    at: datetime

    def partition_key(self) -> str:
        return str(self.session_id)


class SessionEnded(Payload):
    topic: ClassVar[str] = TOPIC_SIGNALING
    type: Literal["rapport.signaling.session.ended.v1"] = "rapport.signaling.session.ended.v1"
    session_id: uuid.UUID
    ended_by: uuid.UUID | None
    reason: Literal["ended", "everyone-left", "expired"]
    at: datetime

    def partition_key(self) -> str:
        return str(self.session_id)


EventPayload = Annotated[
    UserRegistered
    | AppointmentScheduled
    | GoalUpdated
    | SessionCompleted
    | ParticipantCheckedIn
    | ParticipantAdmitted
    | ParticipantJoined
    | ParticipantLeft
    | CallConnected
    | SessionEnded,
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


def catalog_types() -> list[str]:
    """Every event type in the catalog, for docs and for webhook subscriptions."""
    union = EventPayload.__origin__  # type: ignore[attr-defined]
    return sorted(m.model_fields["type"].default for m in union.__args__)


def json_schema() -> dict[str, Any]:
    """JSON Schema of the union, the source for docs/events (AsyncAPI)."""
    return _payload_adapter.json_schema()
