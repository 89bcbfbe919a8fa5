"""Per-aggregate sequence numbers, gap-free per endpoint, and the messages a partner fetches."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.webhooks.events import build_router
from shared.events.catalog import Payload
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import RunningService, StartService, envelope_of


@pytest.fixture
async def webhooks(start_service: StartService) -> RunningService:
    # No dispatcher: only what is queued (and listed) matters here.
    return await start_service(background=False)


def completed_in(session_id: uuid.UUID) -> Payload:
    return factories.session_completed().model_copy(update={"session_id": session_id})


async def apply(webhooks: RunningService, *payloads: Payload) -> None:
    for payload in payloads:
        async with webhooks.database.unit_of_work() as session:
            await build_router().dispatch(session, envelope_of(payload))


async def messages(webhooks: RunningService, endpoint_id: str, **params: Any) -> list[Any]:
    response = await webhooks.http.get(
        f"/v1/webhook-endpoints/{endpoint_id}/messages", params=params, headers=webhooks.auth()
    )
    assert response.status_code == 200, response.text
    listed: list[Any] = response.json()
    return listed


async def test_each_endpoint_numbers_each_aggregates_messages_without_gaps(
    webhooks: RunningService,
) -> None:
    everything = await webhooks.register("http://127.0.0.1:9/all", ["*"])
    # Subscribed to some of the session's events only: its numbers still have no hole.
    completed_only = await webhooks.register("http://127.0.0.1:9/some", ["session.completed"])
    scheduled = factories.appointment_scheduled()
    session_id = scheduled.session_id
    other = factories.appointment_scheduled()
    await apply(
        webhooks,
        scheduled,
        completed_in(session_id),
        other,
        completed_in(session_id),
    )

    mine = await messages(webhooks, everything["id"], aggregate_id=str(session_id))
    theirs = await messages(webhooks, completed_only["id"], aggregate_id=str(session_id))
    elsewhere = await messages(webhooks, everything["id"], aggregate_id=str(other.session_id))

    assert [(m["sequence"], m["body"]["type"]) for m in mine] == [
        (1, "appointment.scheduled"),
        (2, "session.completed"),
        (3, "session.completed"),
    ]
    assert [(m["sequence"], m["body"]["type"]) for m in theirs] == [
        (1, "session.completed"),
        (2, "session.completed"),
    ]
    assert [m["sequence"] for m in elsewhere] == [1]
    for message in mine:
        assert message["body"]["aggregate_id"] == message["aggregate_id"] == str(session_id)
        assert message["body"]["sequence"] == message["sequence"]
        assert message["webhook_id"].startswith("msg_")


async def test_an_event_applied_twice_takes_no_second_number(webhooks: RunningService) -> None:
    endpoint = await webhooks.register("http://127.0.0.1:9/all", ["*"])
    first = factories.session_completed()
    envelope = envelope_of(first)
    for _ in range(2):
        async with webhooks.database.unit_of_work() as session:
            await build_router().dispatch(session, envelope)
    await apply(webhooks, completed_in(first.session_id))

    listed = await messages(webhooks, endpoint["id"], aggregate_id=str(first.session_id))

    assert [m["sequence"] for m in listed] == [1, 2]


async def test_a_partner_fetches_what_it_missed_after_a_sequence_or_since_a_time(
    webhooks: RunningService,
) -> None:
    endpoint = await webhooks.register("http://127.0.0.1:9/all", ["*"])
    session_id = uuid.uuid4()
    await apply(webhooks, *[completed_in(session_id) for _ in range(5)])
    await apply(webhooks, factories.session_completed())

    after_two = await messages(webhooks, endpoint["id"], aggregate_id=str(session_id), after=2)
    paged = await messages(webhooks, endpoint["id"], aggregate_id=str(session_id), after=2, limit=2)
    everything = await messages(webhooks, endpoint["id"], since="2000-01-01T00:00:00Z")
    none_since = await messages(webhooks, endpoint["id"], since="2100-01-01T00:00:00Z")

    assert [m["sequence"] for m in after_two] == [3, 4, 5]
    assert [m["sequence"] for m in paged] == [3, 4]
    assert len(everything) == 6
    assert [m["created_at"] for m in everything] == sorted(m["created_at"] for m in everything)
    assert none_since == []


async def test_bad_message_queries_are_refused_clearly(webhooks: RunningService) -> None:
    endpoint = await webhooks.register("http://127.0.0.1:9/all", ["*"])
    path = f"/v1/webhook-endpoints/{endpoint['id']}/messages"

    without_aggregate = await webhooks.http.get(path, params={"after": 3}, headers=webhooks.auth())
    negative = await webhooks.http.get(
        path, params={"aggregate_id": "x", "after": -1}, headers=webhooks.auth()
    )
    bad_time = await webhooks.http.get(path, params={"since": "yesterday"}, headers=webhooks.auth())
    someone_elses = await webhooks.http.get(
        path,
        params={"aggregate_id": "x"},
        headers=webhooks.auth(role="clinician", scopes="webhooks:manage"),
    )

    assert without_aggregate.status_code == 422
    assert "aggregate_id" in without_aggregate.json()["detail"]
    assert negative.status_code == 422
    assert bad_time.status_code == 422
    assert someone_elses.status_code == 404
