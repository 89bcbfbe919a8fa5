"""Connection quality in the session record, and a record that converges when the end
arrives before the rest, with one ``session.completed``."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from services.records import repository
from services.records.sessions import repository as sessions_repository
from services.records.sessions.rules import Sample, percentile, summarize
from shared.events.catalog import (
    AppointmentNoShow,
    CallConnected,
    CallQuality,
    ParticipantJoined,
    ParticipantLeft,
    SessionCompleted,
    SessionEnded,
)
from tests.unit.records.conftest import T0, Records


def minutes(n: float) -> Any:
    return T0 + timedelta(minutes=n)


def test_the_summary_on_a_worked_example():
    samples = [
        Sample(100, 0.01, 4, 900),
        Sample(120, 0.03, 6, 1200),
        Sample(80, None, None, 400),
        Sample(300, 0.02, 8, None),
        Sample(110, None, 2, 700),
        Sample(None, None, None, None),
    ]

    summary = summarize(samples)

    assert summary.samples == 6
    assert summary.round_trip_ms_median == 110
    # Nearest rank: the 5th of the 5 round trips (ceil(0.95 * 5) = 5).
    assert summary.round_trip_ms_p95 == 300
    assert summary.packet_loss_mean == 0.02
    assert summary.jitter_ms_mean == 5
    assert summary.bitrate_kbps_min == 400
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert summarize([]).round_trip_ms_median is None


def _sample(session: uuid.UUID, user: uuid.UUID, role: str, at: float, rtt: float) -> CallQuality:
    return CallQuality(
        session_id=session,
        user_id=user,
        role=role,  # type: ignore[arg-type]
        round_trip_ms=rtt,
        packet_loss=0.01,
        jitter_ms=3.0,
        bitrate_kbps=800.0 + rtt,
        at=minutes(at),
    )


async def _session(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    return clinician, client, await records.booked_session(clinician, client)


async def _record(records: Records, session: uuid.UUID, reader: uuid.UUID) -> Any:
    response = await records.http.get(f"/v1/sessions/{session}", headers=records.auth(reader))
    assert response.status_code == 200, response.text
    return response.json()


async def _completions(records: Records, session: uuid.UUID) -> list[SessionCompleted]:
    return [e for e in await records.outbox(SessionCompleted) if e.session_id == session]


def _call(session: uuid.UUID, clinician: uuid.UUID, client: uuid.UUID) -> list[Any]:
    return [
        ParticipantJoined(session_id=session, user_id=clinician, role="clinician", at=minutes(1)),
        ParticipantJoined(session_id=session, user_id=client, role="client", at=minutes(2)),
        CallConnected(session_id=session, at=minutes(3)),
        ParticipantLeft(session_id=session, user_id=client, role="client", at=minutes(50)),
        ParticipantLeft(session_id=session, user_id=clinician, role="clinician", at=minutes(51)),
    ]


async def test_quality_samples_are_summarized_in_the_record_and_the_completion(records: Records):
    clinician, client, session = await _session(records)
    samples = [
        _sample(session, clinician, "clinician", 5, 40),
        _sample(session, client, "client", 5, 60),
        _sample(session, client, "client", 10, 200),
    ]
    await records.deliver(*_call(session, clinician, client)[:3], *samples, samples[1])
    # The same sample again, in one batch with itself: still counted once.
    await records.deliver_batch(samples[2], samples[2])

    live = await _record(records, session, client)
    await records.deliver(
        *_call(session, clinician, client)[3:],
        SessionEnded(session_id=session, ended_by=clinician, reason="ended", at=minutes(52)),
    )

    assert live["quality"] == {
        "samples": 3,
        "round_trip_ms_median": 60.0,
        "round_trip_ms_p95": 200.0,
        "packet_loss_mean": 0.01,
        "jitter_ms_mean": 3.0,
        "bitrate_kbps_min": 840.0,
    }
    [completed] = await _completions(records, session)
    assert completed.quality is not None
    assert completed.quality.model_dump() == live["quality"]


async def test_a_record_without_samples_has_no_quality(records: Records):
    clinician, _, session = await _session(records)
    assert (await _record(records, session, clinician))["quality"] is None


async def test_the_end_first_still_completes_and_converges_with_one_completion(records: Records):
    clinician, client, in_order = await _session(records)
    ended_first = await records.booked_session(clinician, client, T0 + timedelta(days=1))
    end = SessionEnded(session_id=ended_first, ended_by=clinician, reason="ended", at=minutes(52))
    await records.deliver(
        *_call(in_order, clinician, client),
        SessionEnded(session_id=in_order, ended_by=clinician, reason="ended", at=minutes(52)),
    )

    await records.deliver(end)
    early = await _record(records, ended_first, clinician)
    # No one is known to have joined yet: a provisional no-show, not announced.
    assert early["status"] == "completed" and early["outcome"] == "no-show"
    assert await _completions(records, ended_first) == []

    await records.deliver(*_call(ended_first, clinician, client), end)
    await records.settle()

    def comparable(record: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in record.items() if k not in ("session_id", "appointment_id")}

    assert comparable(await _record(records, ended_first, clinician)) == comparable(
        await _record(records, in_order, clinician)
    )
    [completed] = await _completions(records, ended_first)
    assert completed.outcome == "completed" and completed.duration_seconds == 49 * 60
    assert await records.outbox(AppointmentNoShow) == []
    appointments = await records.http.get("/v1/appointments", headers=records.auth(clinician))
    assert {a["status"] for a in appointments.json()} == {"fulfilled"}


async def test_a_no_show_is_announced_once_the_record_settles(records: Records):
    clinician, client, session = await _session(records)
    await records.deliver(
        ParticipantJoined(session_id=session, user_id=clinician, role="clinician", at=minutes(1)),
        SessionEnded(session_id=session, ended_by=None, reason="expired", at=minutes(20)),
    )
    assert await _completions(records, session) == []

    assert await records.settle() == 1
    assert await records.settle() == 0
    # A join reported after the announcement still corrects the record, and nothing is
    # announced twice.
    await records.deliver(
        ParticipantJoined(session_id=session, user_id=client, role="client", at=minutes(5)),
        _sample(session, client, "client", 6, 90),
    )
    await records.settle()

    [completed] = await _completions(records, session)
    assert completed.outcome == "no-show" and completed.quality is None
    [no_show] = await records.outbox(AppointmentNoShow)
    assert no_show.session_id == session
    record = await _record(records, session, clinician)
    assert record["outcome"] == "completed" and record["quality"]["samples"] == 1


async def test_only_one_writer_claims_the_announcement(records: Records):
    _, _, session = await _session(records)
    async with records.database.unit_of_work() as db:
        # A writer holding a stale copy of the record (completion not announced) still loses.
        stale = await repository.get_session_record(db, session)
        assert stale is not None and stale.completion_announced_at is None
        first = await sessions_repository.claim_announcement(db, session, minutes(60))
        second = await sessions_repository.claim_announcement(db, session, minutes(61))
    assert (first, second) == (True, False)
