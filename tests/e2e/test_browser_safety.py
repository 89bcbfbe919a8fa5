"""The safety flag nobody misses, in real browsers against every Rapport process.

A client on a phone answers a PHQ-9 in the waiting room with item 9 above 0; the clinician's
dashboard shows the flag, on the waiting client too, before admitting; the clinician records
what was done. A second flag, left unacknowledged past a shortened deadline while records is
stopped, escalates to the on-call admin when records starts again, and stays on the admin's
page until handled. No item answer reaches an event, a webhook or a log.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import expect

from tests.e2e.browser import (
    AxeReport,
    Person,
    book_now,
    chromium,
    eventually,
    new_context,
    register,
    screenshot,
    sign_in,
    start_care,
)
from tests.e2e.flows import create_admin
from tests.e2e.system import RapportSystem
from tests.e2e.test_video_session import WebhookReceiver

# It restarts records twice and waits out a flag's (shortened) deadline while records is down,
# on top of the system's start-up, which the first e2e test of a run pays for.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ITEM_9_TEXT = "Thoughts that you would be better off dead"
# How long the second flag may wait: long enough to stop records before it falls due.
SHORT_DEADLINE_MINUTES = "0.1"


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    task = asyncio.create_task(receiver.server.serve())
    while not receiver.server.started:
        await asyncio.sleep(0.05)
    yield receiver
    receiver.server.should_exit = True
    await task


def phq9(item9: int) -> dict[str, int]:
    return {f"phq-9.{n}": 1 for n in range(1, 9)} | {"phq-9.9": item9}


async def client_flags(http: httpx.AsyncClient, clinician: Person, client: Person) -> Any:
    response = await http.get(f"/v1/clients/{client.id}/safety-flags", headers=clinician.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def records_events(rapport: RapportSystem, client_id: str) -> list[dict[str, Any]]:
    """Every event records published about the client (the topic read from its start)."""
    consumer = AIOKafkaConsumer(
        "rapport.records",
        bootstrap_servers=rapport.kafka_bootstrap,
        group_id=f"e2e-safety-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[dict[str, Any]] = []
        while True:
            batch = await consumer.getmany(timeout_ms=2000)
            if not batch:
                return found
            for records in batch.values():
                for record in records:
                    if record.value and client_id.encode() in record.value:
                        headers = {k: v.decode() for k, v in record.headers}
                        found.append({"type": headers.get("ce_type"), "raw": record.value})
    finally:
        await consumer.stop()


async def test_a_safety_flag_is_seen_before_admitting_acknowledged_and_escalated(
    rapport: RapportSystem, receiver: WebhookReceiver
) -> None:
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await register(http, "clinician", "Dr. Ada Osei")
        client = await register(http, "client", "Kit Moreno", invited_by=clinician)
        admin_user = await create_admin(rapport, http)
        admin = Person(
            id=admin_user.id,
            email=admin_user.email,
            password="admin password 1",
            display_name="Ops",
            headers=admin_user.headers,
        )
        rapport.must_never_log("PHQ-9 item 9's text", ITEM_9_TEXT)
        rapport.must_never_log("an item answer", '"phq-9.9"')
        endpoint = await http.post(
            "/v1/webhook-endpoints",
            headers=admin.headers,
            json={"url": receiver.url, "event_types": ["*"], "description": "e2e measures"},
        )
        assert endpoint.status_code == 201, endpoint.text
        # The clinic's on-call for escalations is this admin (set when records restarts).
        on_call = {"RAPPORT_RECORDS_SAFETY_ON_CALL_ID": admin.id}
        try:
            await _flow(rapport, http, clinician, client, admin, receiver, on_call)
        finally:
            # Leave records as the other tests expect it.
            await asyncio.to_thread(rapport.restart, "records")


async def _flow(
    rapport: RapportSystem,
    http: httpx.AsyncClient,
    clinician: Person,
    client: Person,
    admin: Person,
    receiver: WebhookReceiver,
    on_call: dict[str, str],
) -> None:
    await start_care(http, clinician, client)
    assigned = await http.put(
        f"/v1/clients/{client.id}/measure-assignments",
        headers=clinician.headers,
        json={"instrument": "phq-9", "cadence": "every-session"},
    )
    assert assigned.status_code == 200, assigned.text
    session_id = await book_now(http, clinician, client)

    async with chromium() as browser:
        # axe-core is added to the pages, which their Content Security Policy would refuse.
        desk = await new_context(browser, rapport.gateway_url, inject_scripts=True)
        phone = await new_context(browser, rapport.gateway_url, phone=True, inject_scripts=True)
        report = AxeReport()
        dashboard = await desk.new_page()
        mobile = await phone.new_page()
        problems: list[str] = []
        for page in (dashboard, mobile):
            page.on("pageerror", lambda error: problems.append(str(error)))

        await sign_in(dashboard, clinician)
        await expect(dashboard.locator("#safety-flags")).to_contain_text("No safety flags")
        await sign_in(mobile, client, f"/join?session_id={session_id}")
        await mobile.get_by_role("button", name="Join the waiting room").click()
        await expect(mobile.locator("#waiting")).to_be_visible(timeout=60_000)
        waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
        await expect(waiting).to_contain_text("Kit Moreno", timeout=60_000)
        await expect(waiting.locator(".safety-badge")).to_have_count(0)

        # In the waiting room the client answers the PHQ-9, item 9 "Several days".
        form = mobile.locator("form.measure[data-instrument='phq-9']")
        await expect(form).to_be_visible()
        for n in range(1, 9):
            await (
                form.locator(f"fieldset[data-link-id='phq-9.{n}']")
                .get_by_label("Several days")
                .check()
            )
        item9 = form.locator("fieldset[data-link-id='phq-9.9']")
        await expect(item9.locator("legend")).to_contain_text(ITEM_9_TEXT)
        await item9.get_by_label("Several days").check()
        await screenshot(mobile, "phone-phq9")
        await report.check(mobile, "phone: PHQ-9 in the waiting room")
        await form.get_by_role("button", name="Send my PHQ-9 answers").click()
        done = mobile.locator(".measure-done[data-instrument='phq-9']")
        await expect(done).to_contain_text("Thank you")
        await expect(done.get_by_role("alert")).to_contain_text("emergency")

        # The clinician sees it at once: on the dashboard and on the waiting client.
        flag_item = dashboard.locator(f"#safety-flags li[data-client-id='{client.id}']")
        await expect(flag_item).to_contain_text("Kit Moreno", timeout=15_000)
        await expect(flag_item).to_contain_text("PHQ-9 item 9")
        await expect(waiting.locator(".safety-badge")).to_have_text("Safety flag")
        await expect(waiting.get_by_role("button", name="Admit Kit Moreno")).to_be_enabled()
        await screenshot(dashboard, "clinician-safety-flag")
        await report.check(dashboard, "dashboard: a safety flag on a waiting client")

        # Acknowledging records what was done.
        await flag_item.get_by_label("What was done").select_option("reviewed-in-session")
        await flag_item.get_by_role("button", name="Acknowledge the flag for Kit Moreno").click()
        await expect(dashboard.locator("#safety-flags")).to_contain_text("No safety flags")
        await expect(waiting.locator(".safety-badge")).to_have_count(0)
        [first] = await client_flags(http, clinician, client)
        assert (first["status"], first["action"], first["acknowledged_by"]) == (
            "acknowledged",
            "reviewed-in-session",
            clinician.id,
        )
        responses = (
            await http.get(f"/v1/clients/{client.id}/measures", headers=clinician.headers)
        ).json()
        assert [(r["phase"], r["total"], r["band"]) for r in responses] == [("waiting", 9, "mild")]

        # A second flag under a shortened deadline, in another session.
        await asyncio.to_thread(
            rapport.restart,
            "records",
            **on_call,
            RAPPORT_RECORDS_SAFETY_ACK_MINUTES=SHORT_DEADLINE_MINUTES,
        )
        later = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
        second = await http.post(
            "/v1/appointments",
            headers=clinician.headers,
            json={
                "client_id": client.id,
                "starts_at": later.isoformat(),
                "ends_at": (later + timedelta(minutes=50)).isoformat(),
            },
        )
        assert second.status_code == 201, second.text
        answered = await http.post(
            f"/v1/sessions/{second.json()['session_id']}/measures",
            headers=client.headers,
            json={"instrument": "phq-9", "phase": "before", "answers": phq9(3)},
        )
        assert answered.status_code == 201, answered.text
        [open_flag] = [
            f for f in await client_flags(http, clinician, client) if f["status"] == "open"
        ]
        # Records stops while the flag is still open, and stays down past its deadline.
        await asyncio.to_thread(rapport.stop_one, "records")
        due_at = datetime.fromisoformat(open_flag["due_at"])
        await asyncio.sleep(max(0.0, (due_at - datetime.now(UTC)).total_seconds()) + 1)
        await asyncio.to_thread(rapport.start_again, "records", **on_call)

        async def escalated() -> Any:
            flags = await client_flags(http, clinician, client)
            return [f for f in flags if f["id"] == open_flag["id"] and f["status"] == "escalated"]

        [escalated_flag] = await eventually(escalated)
        assert escalated_flag["escalated_to"] == admin.id

        # The on-call admin has it on their page until they handle it; so has the clinician.
        ops = await desk.new_page()
        ops.on("pageerror", lambda error: problems.append(str(error)))
        await sign_in(ops, admin, "/safety")
        on_call_item = ops.locator(f"#safety-flags li[data-flag-id='{open_flag['id']}']")
        await expect(on_call_item).to_contain_text("escalated", timeout=15_000)
        await expect(
            dashboard.locator(f"#safety-flags li[data-flag-id='{open_flag['id']}']")
        ).to_contain_text("escalated", timeout=15_000)
        await screenshot(ops, "on-call-escalated-flag")
        await report.check(ops, "on-call: an escalated flag")
        await on_call_item.get_by_label("What was done").select_option("contacted")
        await on_call_item.get_by_role("button", name="Acknowledge the flag for").click()
        await expect(ops.locator("#safety-flags")).to_contain_text("No safety flags")
        handled = [
            f for f in await client_flags(http, clinician, client) if f["id"] == open_flag["id"]
        ]
        assert (handled[0]["status"], handled[0]["acknowledged_by"]) == ("acknowledged", admin.id)

        # The record shows the trend with its bands; the client sees the safety plan.
        await dashboard.goto(f"/clinician/client?id={client.id}")
        await expect(dashboard.locator("canvas[data-instrument='phq-9']")).to_be_visible()
        await expect(dashboard.locator("#client-flags li")).to_have_count(2)
        await report.check(dashboard, "client record: measures, flags, safety plan")
        await dashboard.get_by_label("Warning signs that a crisis may be developing").fill(
            "Not sleeping\nStaying in all day"
        )
        await dashboard.get_by_role("button", name="Save a new version of the plan").click()
        await expect(dashboard.locator("#safety-plan-form")).to_contain_text("version 1")
        await mobile.goto("/client")
        plan = mobile.locator("#safety-plan [data-heading='warning_signs'] li")
        await expect(plan).to_have_text(["Not sleeping", "Staying in all day"])
        await screenshot(mobile, "phone-safety-plan")
        await report.check(mobile, "phone: the client's page with the safety plan")
        await dashboard.goto("/clinician/caseload")
        row = dashboard.locator(f"#caseload tr[data-client-id='{client.id}']")
        await expect(row).to_contain_text("11 (moderate)")
        await report.check(dashboard, "caseload")
        assert not report.blocking, report.blocking
        assert not problems, problems

    # Events and webhooks carry scores and ids, never an item answer.
    async def both_measures_delivered() -> bool:
        return len(completed_webhooks(receiver, client)) == 2

    await eventually(both_measures_delivered)
    for _, body in receiver.requests:
        assert (
            b"phq-9.9" not in body and b"answers" not in body and ITEM_9_TEXT.encode() not in body
        )
    completed = completed_webhooks(receiver, client)
    assert sorted((c["total"], c["band"]) for c in completed) == [(9, "mild"), (11, "moderate")]
    events = await records_events(rapport, client.id)
    types = {e["type"] for e in events}
    assert {
        "rapport.records.measure.completed.v1",
        "rapport.records.safety.flag.raised.v1",
        "rapport.records.safety.flag.acknowledged.v1",
        "rapport.records.safety.flag.escalated.v1",
    } <= types, types
    for event in events:
        raw = event["raw"]
        assert b"phq-9.9" not in raw and b'"answers"' not in raw and ITEM_9_TEXT.encode() not in raw


def completed_webhooks(receiver: WebhookReceiver, client: Person) -> list[dict[str, Any]]:
    """The data of each measure.completed delivery about ``client``."""
    bodies = [json.loads(body) for _, body in receiver.requests]
    return [
        b["data"]
        for b in bodies
        if b["type"] == "measure.completed" and b["data"]["client_id"] == client.id
    ]
