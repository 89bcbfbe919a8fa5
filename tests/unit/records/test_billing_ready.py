"""``session.billing_ready`` from a session record: codes by the billing table, once, with ids
and codes only (never where the client said they were)."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.events.catalog import (
    CallConnected,
    CallQuality,
    ParticipantJoined,
    ParticipantLeft,
    Payload,
    SessionBillingReady,
    SessionEnded,
)
from tests.unit.records.clinical_world import location_statement
from tests.unit.records.conftest import T0, Records, migrated_database, running_records

ADDRESS = "Flat 3, 27 Quayside Road, behind the bakery"
CONTACT_NAME = "Morgan Quayside-Contact"


def minutes(n: float) -> Any:
    return T0 + timedelta(minutes=n)


def a_call(
    session_id: uuid.UUID,
    clinician: uuid.UUID,
    clients: list[uuid.UUID],
    connected_minutes: float,
    frames: int | None = 300,
) -> list[Payload]:
    """Everyone joins, the call connects at minute 2, each sends a sample, the end."""
    events: list[Payload] = [
        ParticipantJoined(session_id=session_id, user_id=clinician, role="clinician", at=minutes(1))
    ]
    for client in clients:
        events.append(
            ParticipantJoined(session_id=session_id, user_id=client, role="client", at=minutes(1.5))
        )
    events.append(CallConnected(session_id=session_id, at=minutes(2)))
    for user, role in [(clinician, "clinician"), *((c, "client") for c in clients)]:
        events.append(
            CallQuality(
                session_id=session_id,
                user_id=user,
                role=role,  # type: ignore[arg-type]
                round_trip_ms=40.0,
                packet_loss=0.0,
                jitter_ms=2.0,
                bitrate_kbps=900.0,
                video_frames_decoded=frames,
                at=minutes(3),
            )
        )
    end = minutes(2 + connected_minutes)
    for user, role in [(clinician, "clinician"), *((c, "client") for c in clients)]:
        events.append(ParticipantLeft(session_id=session_id, user_id=user, role=role, at=end))  # type: ignore[arg-type]
    events.append(SessionEnded(session_id=session_id, ended_by=clinician, reason="ended", at=end))
    return events


async def billing_of(records: Records, session_id: uuid.UUID) -> list[SessionBillingReady]:
    return [e for e in await records.outbox(SessionBillingReady) if e.session_id == session_id]


async def state(records: Records, client: uuid.UUID, session_id: uuid.UUID, **changes: Any) -> None:
    response = await records.http.put(
        f"/v1/sessions/{session_id}/location",
        json=location_statement(**changes),
        headers=records.auth(client),
    )
    assert response.status_code == 200, response.text


async def test_a_completed_session_at_home_with_video_is_billed_once(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    await state(records, client, session_id, at_home=True)

    events = a_call(session_id, clinician, [client], connected_minutes=40)
    await records.deliver(*events)
    await records.deliver(events[-1])  # the end again: still one
    await records.settle()

    [billing] = await billing_of(records, session_id)
    assert billing.cpt_code == "90834"
    assert billing.connected_seconds == 40 * 60
    assert billing.place_of_service == "10"
    assert billing.audio_only is False
    assert billing.group is False
    assert billing.started_at == minutes(2) and billing.ended_at == minutes(42)
    assert [(a.user_id, a.role) for a in billing.attendees] == [
        (client, "client"),
        (clinician, "clinician"),
    ]
    # The session record keeps what billing was told, for its parties to read.
    record = await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(clinician))
    assert record.json()["billing"] == {
        "connected_seconds": 2400,
        "cpt_code": "90834",
        "group": False,
        "place_of_service": "10",
        "audio_only": False,
        "attendees": [
            {"user_id": str(client), "role": "client"},
            {"user_id": str(clinician), "role": "clinician"},
        ],
    }


async def test_audio_only_elsewhere_and_too_short_for_a_code(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    await state(records, client, session_id, at_home=False)

    await records.deliver(*a_call(session_id, clinician, [client], 15.5, frames=0))

    [billing] = await billing_of(records, session_id)
    assert billing.cpt_code is None
    assert billing.place_of_service == "02"
    assert billing.audio_only is True


async def test_no_location_and_no_media_reports_is_elsewhere_and_unknown(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)

    await records.deliver(*a_call(session_id, clinician, [client], 53, frames=None))

    [billing] = await billing_of(records, session_id)
    assert (billing.cpt_code, billing.place_of_service, billing.audio_only) == ("90837", "02", None)


async def test_two_clients_make_a_group_session(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    partner = await records.register("client")
    session_id = await records.booked_session(clinician, client)

    await records.deliver(*a_call(session_id, clinician, [client, partner], 60))

    [billing] = await billing_of(records, session_id)
    assert (billing.cpt_code, billing.group) == ("90853", True)
    assert {a.user_id for a in billing.attendees} == {clinician, client, partner}


async def test_a_no_show_is_not_billed(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)

    await records.deliver(
        ParticipantJoined(session_id=session_id, user_id=clinician, role="clinician", at=T0),
        SessionEnded(session_id=session_id, ended_by=clinician, reason="ended", at=minutes(30)),
    )
    assert await records.settle() == 1

    assert await billing_of(records, session_id) == []
    no_show = await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(client))
    assert no_show.json()["billing"] is None


async def test_the_table_comes_from_the_settings(tmp_path: Path):
    async with running_records(
        await migrated_database(tmp_path),
        billing_time_codes={"90832": 1, "90834": 2, "90837": 3},
        billing_elsewhere_place_of_service="99",
    ) as records:
        clinician = await records.register("clinician")
        client = await records.register("client")
        session_id = await records.booked_session(clinician, client)
        await records.deliver(*a_call(session_id, clinician, [client], 2.5))

        [billing] = await billing_of(records, session_id)
        assert (billing.cpt_code, billing.place_of_service) == ("90834", "99")


async def test_the_stated_location_is_in_no_event_and_no_log(
    records: Records, caplog: pytest.LogCaptureFixture
):
    # What a service logs at its most verbose setting in production (INFO; DEBUG is for
    # libraries such as aiosqlite, which echo SQL parameters).
    caplog.set_level(logging.INFO)
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    contact = {"name": CONTACT_NAME, "phone": "+44 20 7946 0958", "relationship": "neighbour"}
    await state(
        records,
        client,
        session_id,
        country="GB",
        region="GB-CRF",
        address=ADDRESS,
        emergency_contact=contact,
    )
    read = await records.http.get(
        f"/v1/sessions/{session_id}/location", headers=records.auth(clinician)
    )
    assert read.status_code == 200 and read.json()["address"] == ADDRESS
    # A refused statement too: what it held must not end up in a log either.
    refused = await records.http.put(
        f"/v1/sessions/{session_id}/location",
        json=location_statement(country="GB", region="US-NY", address=ADDRESS),
        headers=records.auth(client),
    )
    assert refused.status_code == 422
    await records.deliver(*a_call(session_id, clinician, [client], 45))
    assert await billing_of(records, session_id)

    published = b"\n".join(await records.outbox_values())
    logged = caplog.text
    for needle in (ADDRESS, "Quayside", CONTACT_NAME, "GB-CRF", "Cardiff", "+442079460958"):
        assert needle.encode() not in published, needle
        assert needle not in logged, needle
