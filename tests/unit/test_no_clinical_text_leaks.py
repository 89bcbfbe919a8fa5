"""No chat text and no stated location leaves the services it was given to: not in an event
(the outbox rows, key, headers and value), not in a webhook a partner would receive for any
of them, not in a log line at INFO.

One session goes through signaling and records together, as in production: the client says
where they are, the clinician reads it, both write in the waiting room and in the call, the
clinic keeps the call's chat in the clinician's record, signaling's events reach records
(which bills the session), and every event both published is rendered as the webhook a
partner subscribed to everything would get. Each place is searched for every piece.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest
from sqlmodel import select

from services.webhooks.messages import webhook_message
from shared.db import Database
from shared.events.catalog import SessionBillingReady
from shared.events.envelope import Envelope, decode
from shared.events.outbox import OutboxMessage
from tests.unit.records import conftest as records_fixtures
from tests.unit.signaling.conftest import (  # noqa: F401  (fixtures used by name)
    StartSignaling,
    issuer,
    schedule,
    start_signaling,
)

ADDRESS = "Flat 9, 4 Lighthouse Wharf, the blue door"
CONTACT_NAME = "Alexis Wharfside-Contact"
CONTACT_PHONE = "+442079460958"
REGION = "GB-CRF"


async def _published(database: Database) -> list[tuple[OutboxMessage, Envelope]]:
    async with database.unit_of_work() as db:
        rows = (await db.exec(select(OutboxMessage))).all()
    return [(r, decode(r.key, r.value, [(k, v.encode()) for k, v in r.headers])) for r in rows]


def _event_text(row: OutboxMessage) -> str:
    """An outbox row as it goes to Kafka: key, headers and value."""
    headers = " ".join(f"{k}={v}" for k, v in row.headers)
    return f"{row.key!r} {headers} {row.value.decode()}"


async def test_no_chat_text_or_location_in_events_webhooks_or_logs(
    start_signaling: StartSignaling,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # What the services log in production at their most verbose (INFO; DEBUG is for
    # libraries such as aiosqlite, which echo SQL parameters).
    caplog.set_level(logging.INFO)
    chat = f"chat-{uuid.uuid4().hex}"
    signaling = await start_signaling(log_level="INFO")
    (tmp_path / "records").mkdir()
    database_url = await records_fixtures.migrated_database(tmp_path / "records")
    async with records_fixtures.running_records(
        database_url, keep_chat_transcripts=True
    ) as records:
        clinician_id = await records.register("clinician")
        client_id = await records.register("client")
        session_id = await records.booked_session(clinician_id, client_id)
        # Signaling learns of the appointment records booked (its appointment.scheduled).
        session = await schedule(
            signaling.database,
            clinician_id=clinician_id,
            client_id=client_id,
            session_id=session_id,
        )
        clinician_auth, client_auth = records.auth(clinician_id), records.auth(client_id)

        # The client's page: its country's regions, then where the client is.
        regions = await records.http.get(
            "/v1/places/regions", params={"country": "GB"}, headers=client_auth
        )
        assert regions.status_code == 200, regions.text
        stated = await records.http.put(
            f"/v1/sessions/{session}/location",
            json={
                "country": "GB",
                "region": REGION,
                "at_home": True,
                "address": ADDRESS,
                "emergency_contact": {"name": CONTACT_NAME, "phone": "020 7946 0958"},
            },
            headers=client_auth,
        )
        assert stated.status_code == 200, stated.text
        refused = await records.http.put(
            f"/v1/sessions/{session}/location",
            json={"country": "US", "region": REGION, "at_home": True, "address": ADDRESS},
            headers=client_auth,
        )
        assert refused.status_code == 422
        read = await records.http.get(f"/v1/sessions/{session}/location", headers=clinician_auth)
        assert read.json()["address"] == ADDRESS

        # The waiting room and the call, over signaling.
        clinician, _ = await signaling.join(clinician_id, "clinician", session)
        client, _ = await signaling.join(client_id, "client", session)
        await clinician.expect("waiting-room")
        await clinician.send({"type": "chat", "text": f"running late {chat}", "to": "waiting"})
        await client.expect("chat-message")
        await clinician.send({"type": "admit", "user_id": str(client_id)})
        await client.expect("joined")
        await client.send({"type": "chat", "text": f"in the call {chat}", "to": "call"})
        said = await clinician.expect("chat-message")
        await client.expect("chat-message")
        await clinician.send({"type": "end"})
        await client.expect("ended")

        # The clinician's page keeps the call's chat; the clinician reads it back.
        kept = await records.http.post(
            f"/v1/sessions/{session}/chat-transcript",
            json={
                "messages": [
                    {
                        "sender_id": said["from"],
                        "sender_role": said["role"],
                        "text": said["text"],
                        "sent_at": said["at"],
                    }
                ]
            },
            headers=clinician_auth,
        )
        assert kept.status_code == 200, kept.text
        transcript = f"/v1/sessions/{session}/chat-transcript"
        assert chat in (await records.http.get(transcript, headers=clinician_auth)).text

        # Signaling's events reach records, which bills the session.
        signaled = [e for _, e in await _published(signaling.database)]
        async with records.database.unit_of_work() as db:
            for envelope in signaled:
                await records.router.dispatch(db, envelope)
        await records.settle()
        [billing] = await records.outbox(SessionBillingReady)
        assert billing.place_of_service == "10"  # what billing may know: "at home"

        published = [*await _published(signaling.database), *await _published(records.database)]
        types = {envelope.type for _, envelope in published}
        assert {
            "rapport.signaling.session.ended.v1",
            "rapport.records.session.billing_ready.v1",
        } <= types, types
        events = "\n".join(_event_text(row) for row, _ in published)
        webhooks = "\n".join(
            json.dumps(
                webhook_message(
                    envelope.payload,  # type: ignore[arg-type]
                    envelope.time,
                    aggregate_id=row.key.decode(),
                    sequence=1,
                )
            )
            for row, envelope in published
        )
    logged = caplog.text + capsys.readouterr().err
    assert f"PUT /v1/sessions/{session}/location 200" in logged, "no access log: proves nothing"

    for needle in (chat, ADDRESS, "Lighthouse", CONTACT_NAME, CONTACT_PHONE, REGION):
        for place, text in (("events", events), ("webhooks", webhooks), ("logs", logged)):
            assert needle not in text, f"{needle!r} in the {place}"
    # A client's page asks for its own country's regions: no log line says which.
    asked = [line for line in logged.splitlines() if "/v1/places/regions" in line]
    assert asked and not [line for line in asked if "GB" in line], asked
