"""Consumed events become one delivery per subscribed endpoint, exactly once."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args, get_origin

import pytest
from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from sqlmodel import select

from services.webhooks.app import SERVICE_NAME
from services.webhooks.events import build_router
from services.webhooks.models import Delivery
from services.webhooks.subscriptions import PARTNER_EVENTS
from shared.events.catalog import UserRegistered
from shared.events.envelope import encode
from shared.events.kafka import EventConsumer, EventPublisher
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import NO_KAFKA, RunningService, StartService, envelope_of

SESSION_COMPLETED = "rapport.records.session.completed.v1"
# Clinical free text has these names in records; none may ever reach a partner.
CLINICAL_TEXT_KEYS = {"note", "notes", "statement", "text"}


@pytest.fixture
async def webhooks(start_service: StartService) -> RunningService:
    # No dispatcher: these tests look at the deliveries as queued, before any attempt.
    return await start_service(background=False)


async def deliveries(webhooks: RunningService) -> list[Delivery]:
    async with webhooks.database.unit_of_work() as session:
        return list((await session.exec(select(Delivery))).all())


def keys_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys_in(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_in(v)}
    return set()


async def test_a_completed_session_is_queued_for_each_subscribed_endpoint(
    webhooks: RunningService,
) -> None:
    by_pattern = await webhooks.register("http://127.0.0.1:9/pattern", ["session.*"])
    by_star = await webhooks.register("http://127.0.0.1:9/star", ["*"])
    by_type = await webhooks.register("http://127.0.0.1:9/type", [SESSION_COMPLETED])
    by_producer = await webhooks.register("http://127.0.0.1:9/producer", ["rapport.records.*"])
    await webhooks.register("http://127.0.0.1:9/other", ["appointment.scheduled", "goal.*"])
    deleted = await webhooks.register("http://127.0.0.1:9/deleted", ["*"])
    await webhooks.http.delete(f"/v1/webhook-endpoints/{deleted['id']}", headers=webhooks.auth())
    payload = factories.session_completed()
    envelope = envelope_of(payload)

    async with webhooks.database.unit_of_work() as session:
        await build_router().dispatch(session, envelope)

    queued = await deliveries(webhooks)
    assert sorted(str(d.endpoint_id) for d in queued) == sorted(
        e["id"] for e in (by_pattern, by_star, by_type, by_producer)
    )
    assert len({d.id for d in queued}) == 4
    for delivery in queued:
        assert delivery.id.startswith("msg_")
        assert delivery.status == "pending"
        assert delivery.attempt_count == 0
        assert delivery.next_attempt_at is not None
        assert delivery.event_id == envelope.id
        assert delivery.event_type == SESSION_COMPLETED
        assert delivery.payload == {
            "type": "session.completed",
            "timestamp": envelope.time.isoformat().replace("+00:00", "Z"),
            "aggregate_id": str(payload.session_id),
            "sequence": 1,
            "data": payload.data(),
        }


@pytest.mark.parametrize(
    ("make_payload", "short_name"),
    [
        (factories.appointment_scheduled, "appointment.scheduled"),
        (factories.goal_updated, "goal.updated"),
    ],
)
async def test_other_partner_events_are_queued_by_their_short_name(
    webhooks: RunningService, make_payload: Any, short_name: str
) -> None:
    await webhooks.register("http://127.0.0.1:9/hooks", [short_name])
    await webhooks.register("http://127.0.0.1:9/sessions", ["session.*"])

    async with webhooks.database.unit_of_work() as session:
        await build_router().dispatch(session, envelope_of(make_payload()))

    queued = await deliveries(webhooks)
    assert [d.payload["type"] for d in queued] == [short_name]


async def test_events_partners_do_not_receive_are_not_handled() -> None:
    router = build_router()

    assert router.handles(SESSION_COMPLETED)
    assert router.handles("rapport.records.appointment.scheduled.v1")
    assert router.handles("rapport.records.goal.updated.v1")
    assert router.handles("rapport.records.appointment.reminder_due.v1")
    assert router.handles("rapport.signaling.session.ended.v1")
    assert not router.handles(UserRegistered.model_fields["type"].default)
    assert not router.handles("rapport.records.checkin.submitted.v1")
    assert not router.handles("rapport.webhooks.endpoint.disabled.v1")
    assert sorted(router.topics) == ["rapport.identity", "rapport.records", "rapport.signaling"]


@pytest.mark.parametrize(
    "make_payload",
    [
        factories.session_completed,
        factories.session_completed_with_quality,
        factories.appointment_scheduled,
        factories.appointment_scheduled_for_a_group,
        factories.appointment_rescheduled,
        factories.appointment_cancelled_by_a_partner,
        factories.appointment_reminder_due,
        factories.goal_updated,
    ],
)
async def test_payloads_carry_no_clinical_free_text(
    webhooks: RunningService, make_payload: Any
) -> None:
    await webhooks.register("http://127.0.0.1:9/hooks", ["*"])

    async with webhooks.database.unit_of_work() as session:
        await build_router().dispatch(session, envelope_of(make_payload()))

    (delivery,) = await deliveries(webhooks)
    assert set(delivery.payload) == {"type", "timestamp", "aggregate_id", "sequence", "data"}
    assert keys_in(delivery.payload).isdisjoint(CLINICAL_TEXT_KEYS)


# The only ``str`` fields a subscribable payload may have: statuses from a closed vocabulary
# that records sets, never text a person typed.
STATUS_FIELDS = {"status", "lifecycle_status"}


def free_text_fields(model: type[BaseModel], path: str = "") -> list[str]:
    """The fields of ``model`` (nested models included) that may hold any string."""
    found = []
    for name, field in model.model_fields.items():
        if name == "type":
            continue
        if _is_code(field.metadata):
            continue
        for annotation in _leaf_types(field.annotation):
            if annotation is str and name not in STATUS_FIELDS:
                found.append(f"{path}{name}")
            elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
                found.extend(free_text_fields(annotation, f"{path}{name}."))
    return found


def _is_code(metadata: list[Any]) -> bool:
    """A string held to a pattern of letters and digits (a billing code) is not free text."""
    # Inside a union the constraint is still a FieldInfo; at the top, pydantic unwrapped it.
    flat = [c for m in metadata for c in (m.metadata if isinstance(m, FieldInfo) else [m])]
    patterns = [getattr(m, "pattern", None) for m in flat]
    return any(p is not None and re.fullmatch(r"\^\[[0-9A-Z-]+\]\{\d+\}\$", p) for p in patterns)


def _leaf_types(annotation: Any) -> list[Any]:
    if get_origin(annotation) is Literal:
        return []
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return [] if _is_code(metadata) else _leaf_types(base)
    arguments = get_args(annotation)
    if not arguments:
        return [annotation]
    return [leaf for argument in arguments for leaf in _leaf_types(argument)]


@pytest.mark.parametrize("payload_type", PARTNER_EVENTS, ids=lambda p: p.__name__)
def test_no_subscribable_payload_has_a_free_text_field(payload_type: type[BaseModel]) -> None:
    assert free_text_fields(payload_type) == []


def test_the_free_text_check_catches_a_text_field() -> None:
    class Leaky(BaseModel):
        status: str
        reason: Literal["ended"]
        note: str | None

    class Nested(BaseModel):
        detail: list[Leaky]

    assert free_text_fields(Leaky) == ["note"]
    assert free_text_fields(Nested) == ["detail.note"]


async def test_the_same_event_dispatched_twice_is_queued_once(webhooks: RunningService) -> None:
    await webhooks.register("http://127.0.0.1:9/hooks", ["*"])
    envelope = envelope_of(factories.session_completed())

    for _ in range(2):
        async with webhooks.database.unit_of_work() as session:
            await build_router().dispatch(session, envelope)

    assert len(await deliveries(webhooks)) == 1


def consumer_record(payload: Any, event_id: str, offset: int) -> ConsumerRecord[bytes, bytes]:
    record = encode(payload, source="/rapport/records", event_id=event_id)
    return ConsumerRecord(
        topic=record.topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=record.key,
        value=record.value,
        checksum=None,
        serialized_key_size=len(record.key),
        serialized_value_size=len(record.value),
        headers=record.headers,
    )


async def test_a_redelivered_event_yields_one_delivery(webhooks: RunningService) -> None:
    await webhooks.register("http://127.0.0.1:9/hooks", ["session.completed"])
    consumer = EventConsumer(
        name=SERVICE_NAME,
        router=build_router(),
        database=webhooks.database,
        publisher=EventPublisher(NO_KAFKA, client_id="test"),
        bootstrap_servers=NO_KAFKA,
    )
    payload = factories.session_completed()

    # The broker hands the same record over twice (e.g. after a rebalance before the commit).
    await consumer._apply_batch([consumer_record(payload, "event-1", offset=0)])
    await consumer._apply_batch([consumer_record(payload, "event-1", offset=0)])

    assert len(await deliveries(webhooks)) == 1
    assert (consumer.stats.applied, consumer.stats.duplicates) == (1, 1)
