"""Safety-flag escalations: subscribed by the event's name once the catalog has it, read by
field name, sent to the clinic's on-call address with nothing about the flag; and what the
dispatcher is told when nobody is on call. Identity is stood in for by an HTTP double."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from services.notifications import events, service
from services.notifications.contacts import IdentityContacts
from services.notifications.errors import PermanentFailure
from services.notifications.models import Kind, Notification
from services.notifications.settings import Clinic, NotificationsSettings
from shared.db import Database
from shared.events.catalog import AllianceConcernFlagged
from shared.migrations import upgrade

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "notifications" / "migrations"
CLINICIAN = uuid.uuid4()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notifications.db'}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    database = Database(url)
    yield database
    await database.dispose()


def _identity(request: httpx.Request) -> httpx.Response:
    assert request.headers["authorization"] == "Bearer k"
    if request.url.path == f"/internal/v1/contacts/{CLINICIAN}":
        body = {
            "user_id": str(CLINICIAN),
            "email": "dr@north.example",
            "display_name": "Dr Lee",
            "time_zone": "UTC",
            "role": "clinician",
            "active": True,
        }
        return httpx.Response(200, content=json.dumps(body))
    return httpx.Response(404)


def _notifier(settings: NotificationsSettings) -> service.Notifier:
    client = httpx.AsyncClient(transport=httpx.MockTransport(_identity))
    return service.Notifier(
        settings,
        IdentityContacts(client, base_url="http://identity", service_key="k"),
        unsubscribe_key=b"u" * 32,
    )


def _flag() -> AllianceConcernFlagged:
    return AllianceConcernFlagged(
        check_in_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        clinician_id=CLINICIAN,
        client_id=uuid.uuid4(),
        total=23,
        lowest_item=2,
        at=datetime.now(UTC),
    )


def test_the_router_subscribes_by_name_only_once_the_catalog_has_the_event() -> None:
    stand_in = AllianceConcernFlagged.model_fields["type"].default
    assert events.build_router(safety_flag_event=stand_in).handles(stand_in)
    assert not events.build_router(safety_flag_event="rapport.records.nothing.v1").handles(
        "rapport.records.nothing.v1"
    )


async def test_an_escalation_goes_to_the_clinics_on_call_without_the_flags_content(
    database: Database,
) -> None:
    flag = _flag()
    async with database.unit_of_work() as session:
        await service.safety_flag_escalated(session, flag, "event-1")
        await service.safety_flag_escalated(session, flag, "event-1")  # replayed: no second
    async with database.unit_of_work() as session:
        [notification] = (await session.exec(select(Notification))).all()
    assert notification.kind == Kind.SAFETY_ESCALATION
    settings = NotificationsSettings(
        environment="test",
        public_url="https://rapport.example",
        clinics=[
            Clinic(
                name="Northside",
                sender="Northside <care@north.example>",
                clinician_ids=[CLINICIAN],
                on_call="oncall@north.example",
            )
        ],
    )
    async with database.unit_of_work() as session:
        letter = await _notifier(settings).write(session, notification)
    assert (letter.to, letter.sender) == ("oncall@north.example", "Northside <care@north.example>")
    assert "Dr Lee" in letter.text
    assert "https://rapport.example/clinician" in letter.text
    for detail in (str(flag.total), str(flag.client_id), "alliance", "check-in"):
        assert detail not in letter.text and detail not in letter.html


async def test_nobody_on_call_is_a_permanent_failure_the_admin_will_see(
    database: Database,
) -> None:
    async with database.unit_of_work() as session:
        await service.safety_flag_escalated(session, _flag(), "event-2")
    async with database.unit_of_work() as session:
        [notification] = (await session.exec(select(Notification))).all()
        with pytest.raises(PermanentFailure, match="no on-call recipient"):
            await _notifier(NotificationsSettings(environment="test")).write(session, notification)
