"""Session records built from signaling's events, whatever their order or repetition."""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from services.records.models import KnownUser, SessionAttendance
from shared.events.catalog import (
    CallConnected,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    Payload,
    SessionCompleted,
    SessionEnded,
    UserRegistered,
)
from tests.unit.records.conftest import T0, Records


def minutes(n: float) -> Any:
    return T0 + timedelta(minutes=n)


def a_session(session_id: uuid.UUID, clinician: uuid.UUID, client: uuid.UUID) -> list[Payload]:
    """A whole session: waiting room, admission, call, a reconnect of the client, the end."""
    return [
        ParticipantCheckedIn(session_id=session_id, user_id=client, role="client", at=minutes(0)),
        ParticipantCheckedIn(
            session_id=session_id, user_id=clinician, role="clinician", at=minutes(1)
        ),
        ParticipantJoined(
            session_id=session_id, user_id=clinician, role="clinician", at=minutes(1)
        ),
        ParticipantAdmitted(
            session_id=session_id,
            user_id=client,
            role="client",
            admitted_by=clinician,
            at=minutes(2),
        ),
        ParticipantJoined(session_id=session_id, user_id=client, role="client", at=minutes(2.5)),
        CallConnected(session_id=session_id, at=minutes(3)),
        ParticipantLeft(session_id=session_id, user_id=client, role="client", at=minutes(30)),
        ParticipantJoined(session_id=session_id, user_id=client, role="client", at=minutes(31)),
        CallConnected(session_id=session_id, at=minutes(31.5)),
        ParticipantLeft(session_id=session_id, user_id=client, role="client", at=minutes(52)),
        ParticipantLeft(
            session_id=session_id, user_id=clinician, role="clinician", at=minutes(52.5)
        ),
        SessionEnded(session_id=session_id, ended_by=None, reason="everyone-left", at=minutes(53)),
    ]


async def session_record(records: Records, session_id: uuid.UUID, reader: uuid.UUID) -> Any:
    response = await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(reader))
    assert response.status_code == 200, response.text
    return response.json()


def without_ids(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in {"session_id", "appointment_id"}}


async def completions(records: Records, session_id: uuid.UUID) -> list[SessionCompleted]:
    return [e for e in await records.outbox(SessionCompleted) if e.session_id == session_id]


async def test_a_session_record_is_built_from_signaling_events(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    goal = await records.set_goal(clinician, client)
    await records.http.post(
        f"/v1/goals/{goal['id']}/updates",
        json={"session_id": str(session_id), "progress": 7, "note": "good week"},
        headers=records.auth(clinician),
    )

    await records.deliver(*a_session(session_id, clinician, client))

    record = await session_record(records, session_id, clinician)
    assert record["status"] == "completed"
    assert record["checked_in_at"].startswith("2030-03-04T09:00:00")
    assert record["admitted_at"].startswith("2030-03-04T09:02:00")
    assert record["connected_at"].startswith("2030-03-04T09:03:00")
    assert record["ended_at"].startswith("2030-03-04T09:53:00")
    assert record["duration_seconds"] == 50 * 60
    assert record["outcome"] == "completed"
    attendees = {a["user_id"]: a for a in record["attendees"]}
    assert attendees[str(clinician)]["role"] == "clinician"
    assert attendees[str(clinician)]["joined_at"].startswith("2030-03-04T09:01:00")
    assert attendees[str(client)]["joined_at"].startswith("2030-03-04T09:02:30")
    assert attendees[str(client)]["left_at"].startswith("2030-03-04T09:52:00")
    assert [u["progress"] for u in record["goal_updates"]] == [7]
    [completed] = await completions(records, session_id)
    assert completed.outcome == "completed"
    assert completed.attended_by == sorted([clinician, client])
    assert completed.goal_update_count == 1
    assert completed.duration_seconds == 50 * 60
    assert completed.started_at == minutes(3)
    assert completed.ended_at == minutes(53)
    assert b"good week" not in b"".join(await records.outbox_values())


async def test_the_record_goes_in_progress_before_the_end(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    story = a_session(session_id, clinician, client)

    await records.deliver(*story[:2])
    waiting = await session_record(records, session_id, client)
    await records.deliver(*story[2:6])
    live = await session_record(records, session_id, client)

    assert waiting["status"] == "scheduled"
    assert live["status"] == "in-progress"
    assert live["ended_at"] is None and live["outcome"] is None
    assert await completions(records, session_id) == []


@pytest.mark.parametrize("seed", range(6))
async def test_shuffled_and_repeated_events_give_the_same_record_and_one_completion(
    records: Records, seed: int
):
    clinician = await records.register("clinician")
    client = await records.register("client")
    in_order = await records.booked_session(clinician, client, T0)
    shuffled = await records.booked_session(clinician, client, T0 + timedelta(days=1))
    await records.deliver(*a_session(in_order, clinician, client))

    story = a_session(shuffled, clinician, client)
    # signaling may say the session ended twice (e.g. "ended", then "expired" later on).
    story.append(SessionEnded(session_id=shuffled, ended_by=None, reason="expired", at=minutes(60)))
    story += random.Random(seed).sample(story, k=4)  # redelivered with new event ids
    random.Random(seed).shuffle(story)
    await records.deliver(*story)

    expected = without_ids(await session_record(records, in_order, clinician))
    assert without_ids(await session_record(records, shuffled, clinician)) == expected
    assert len(await completions(records, in_order)) == 1
    assert len(await completions(records, shuffled)) == 1


async def test_one_batch_gives_the_same_record_as_one_event_at_a_time(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    one_by_one = await records.booked_session(clinician, client, T0)
    batched = await records.booked_session(clinician, client, T0 + timedelta(days=1))
    await records.deliver(*a_session(one_by_one, clinician, client))

    story = a_session(batched, clinician, client)
    await records.deliver_batch(*story, story[4], story[-1])

    expected = without_ids(await session_record(records, one_by_one, clinician))
    assert without_ids(await session_record(records, batched, clinician)) == expected
    assert len(await completions(records, batched)) == 1


async def test_session_ended_twice_in_a_row_announces_completion_once(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    story = a_session(session_id, clinician, client)

    await records.deliver(*story, story[-1], story[-1])

    assert len(await completions(records, session_id)) == 1


@pytest.mark.parametrize(
    ("who_joins", "outcome"),
    [
        (("clinician", "client"), "completed"),
        (("clinician",), "no-show"),
        (("client",), "interrupted"),
    ],
)
async def test_the_outcome_depends_on_who_joined(
    records: Records, who_joins: tuple[str, ...], outcome: str
):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    people = {"clinician": clinician, "client": client}

    await records.deliver(
        *(
            ParticipantJoined(
                session_id=session_id,
                user_id=people[role],
                role=role,
                at=minutes(i),  # type: ignore[arg-type]
            )
            for i, role in enumerate(who_joins)
        ),
        SessionEnded(session_id=session_id, ended_by=None, reason="expired", at=minutes(10)),
    )
    await records.settle()

    record = await session_record(records, session_id, clinician)
    [completed] = await completions(records, session_id)
    assert record["outcome"] == completed.outcome == outcome
    assert completed.attended_by == sorted(people[role] for role in who_joins)
    # No CallConnected: the duration runs from the first join.
    assert record["duration_seconds"] == completed.duration_seconds == 10 * 60


async def test_duration_never_goes_negative_and_is_zero_without_anyone(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    late_connect = await records.booked_session(clinician, client, T0)
    empty = await records.booked_session(clinician, client, T0 + timedelta(days=1))

    await records.deliver(
        SessionEnded(session_id=late_connect, ended_by=clinician, reason="ended", at=minutes(5)),
        CallConnected(session_id=late_connect, at=minutes(6)),
        SessionEnded(session_id=empty, ended_by=None, reason="expired", at=minutes(50)),
    )
    await records.settle()

    assert (await session_record(records, late_connect, client))["duration_seconds"] == 0
    assert (await session_record(records, empty, client))["duration_seconds"] == 0
    assert (await session_record(records, empty, client))["outcome"] == "no-show"
    [completed] = await completions(records, empty)
    assert completed.started_at is None
    assert completed.attended_by == []


async def test_events_of_an_unknown_session_are_ignored_with_a_warning(
    records: Records, caplog: pytest.LogCaptureFixture
):
    unknown = uuid.uuid4()
    someone = uuid.uuid4()

    with caplog.at_level(logging.WARNING, logger="services.records.sessions.service"):
        await records.deliver(
            ParticipantJoined(session_id=unknown, user_id=someone, role="client", at=T0),
            SessionEnded(session_id=unknown, ended_by=None, reason="ended", at=T0),
        )

    async with records.database.unit_of_work() as db:
        assert (await db.exec(select(SessionAttendance))).all() == []
    assert await records.outbox(SessionCompleted) == []
    warnings = [
        r.getMessage()
        for r in caplog.records
        if r.name == "services.records.sessions.service" and r.levelno == logging.WARNING
    ]
    assert len(warnings) == 2
    assert all(str(unknown) in w for w in warnings)


async def test_user_registrations_build_the_projection_idempotently(records: Records):
    one_at_a_time = UserRegistered(user_id=uuid.uuid4(), role="client", registered_at=T0)
    in_one_batch = UserRegistered(user_id=uuid.uuid4(), role="clinician", registered_at=T0)

    await records.deliver(one_at_a_time, one_at_a_time, source="/rapport/identity")
    await records.deliver_batch(in_one_batch, in_one_batch, source="/rapport/identity")

    async with records.database.unit_of_work() as db:
        users = (await db.exec(select(KnownUser).order_by(col(KnownUser.role)))).all()
    assert [(u.user_id, u.role, u.registered_at) for u in users] == [
        (one_at_a_time.user_id, "client", T0),
        (in_one_batch.user_id, "clinician", T0),
    ]
