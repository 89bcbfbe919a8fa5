"""Keeping a call's chat in the clinician's private record: only when the clinic chose to,
only by and for the session's clinician, audited like notes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.records.clinical_world import chat_transcript
from tests.unit.records.conftest import T0, Records, migrated_database, running_records
from tests.unit.records.test_location import a_session


async def keep(
    records: Records, session_id: uuid.UUID, user: uuid.UUID, body: dict[str, Any]
) -> httpx.Response:
    return await records.http.post(
        f"/v1/sessions/{session_id}/chat-transcript", json=body, headers=records.auth(user)
    )


async def read(records: Records, session_id: uuid.UUID, user: uuid.UUID) -> httpx.Response:
    return await records.http.get(
        f"/v1/sessions/{session_id}/chat-transcript", headers=records.auth(user)
    )


async def test_a_kept_transcript_is_the_clinicians_alone(records: Records):
    clinician, client, session_id = await a_session(records)
    settings = await records.http.get("/v1/clinic/settings", headers=records.auth(client))
    assert settings.json() == {"keep_chat_transcripts": True}
    assert (await read(records, session_id, clinician)).status_code == 404  # nothing kept yet

    kept = await keep(
        records, session_id, clinician, chat_transcript(clinician, client, "marker-7f3")
    )

    assert kept.status_code == 200, kept.text
    body = (await read(records, session_id, clinician)).json()
    assert [(m["sender_role"], m["text"]) for m in body["messages"]] == [
        ("client", "Can you hear me? marker-7f3"),
        ("clinician", "Yes, clearly. marker-7f3"),
    ]
    other_clinician = await records.register("clinician")
    admin = await records.register("admin")
    for user in (client, other_clinician, admin):
        refused = await read(records, session_id, user)
        assert refused.status_code == 403, (user, refused.text)
        assert "marker-7f3" not in refused.text
        assert (
            await keep(records, session_id, user, chat_transcript(clinician, client))
        ).status_code == 403
    glass = records.auth(admin) | {"X-Break-Glass-Reason": "Subpoena"}
    broken = await records.http.get(f"/v1/sessions/{session_id}/chat-transcript", headers=glass)
    assert broken.status_code == 403
    # Not a note: the clinician's notes on the client hold none of it.
    notes = await records.http.get(
        "/v1/notes", params={"client_id": str(client)}, headers=records.auth(clinician)
    )
    assert notes.json() == []


async def test_the_same_messages_sent_again_are_kept_once_and_more_are_added(records: Records):
    clinician, client, session_id = await a_session(records)
    first = chat_transcript(clinician, client)
    await keep(records, session_id, clinician, first)

    more = {
        "messages": [
            *first["messages"],
            {
                "sender_id": str(client),
                "sender_role": "client",
                "text": "Back again",
                "sent_at": (T0 + timedelta(hours=1)).isoformat(),
            },
        ]
    }
    again = await keep(records, session_id, clinician, more)

    assert again.status_code == 200, again.text
    assert [m["text"][:10] for m in again.json()["messages"]] == [
        "Can you he",
        "Yes, clear",
        "Back again",
    ]


async def test_keeping_and_reading_are_audited_with_ids_only(records: Records):
    clinician, client, session_id = await a_session(records)
    before = len(await records.audit_entries())

    await keep(records, session_id, clinician, chat_transcript(clinician, client))
    await keep(records, session_id, clinician, chat_transcript(clinician, client, "more"))
    await read(records, session_id, clinician)

    entries = [
        (e.actor_id, e.action, e.resource_type, e.resource_id)
        for e in (await records.audit_entries())[before:]
    ]
    assert entries == [
        (clinician, "create", "chat_transcript", str(session_id)),
        (clinician, "update", "chat_transcript", str(session_id)),
        (clinician, "read", "chat_transcript", str(session_id)),
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"sender_role": "admin"}, "sender_role"),
        ({"text": ""}, "text"),
        ({"text": "x" * 2001}, "text"),
        ({"sent_at": "2030-03-04T09:00:00"}, "sent_at"),
        ({"sender_id": str(uuid.uuid4())}, "sender_id"),
    ],
)
async def test_bad_messages_are_422_naming_the_field(
    records: Records, change: dict[str, Any], field: str
):
    clinician, client, session_id = await a_session(records)
    body = chat_transcript(clinician, client)
    body["messages"][1] |= change

    response = await keep(records, session_id, clinician, body)

    assert response.status_code == 422, response.text
    assert f"messages.1.{field}" in response.json()["detail"], response.json()
    assert (await keep(records, session_id, clinician, {"messages": []})).status_code == 422
    unknown = await keep(records, uuid.uuid4(), clinician, chat_transcript(clinician, client))
    assert unknown.status_code == 404


async def test_a_clinic_that_keeps_no_transcripts_refuses_to(tmp_path: Path):
    async with running_records(await migrated_database(tmp_path)) as records:
        clinician, client, session_id = await a_session(records)
        settings = await records.http.get("/v1/clinic/settings", headers=records.auth(client))
        assert settings.json() == {"keep_chat_transcripts": False}

        refused = await keep(records, session_id, clinician, chat_transcript(clinician, client))

        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "ChatTranscriptsNotKept"
        assert "does not keep chat transcripts" in refused.json()["detail"]
        assert (await read(records, session_id, clinician)).status_code == 404
