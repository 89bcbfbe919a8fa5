"""A forgotten password reset in a real browser, against the full system (real Kafka, PostgreSQL).

The person asks for a link from the sign-in page; the link is the one the notifications service
emails (its token fetched from identity's internal API with the reset id from identity's
event, as notifications does). On the reset page, too short and mismatched passwords are
refused at the field, the new password is set and signs in, and the used link then says it was
used. The token stays out of the address bar, the tab's storage and every process's log.
axe-core checks each state of the page.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import Page, expect

from services.notifications.service.writing import PublicLinks
from shared.events.catalog import TOPIC_IDENTITY
from shared.service_key import DEVELOPMENT_SERVICE_KEY
from tests.e2e.browser import (
    AxeReport,
    Person,
    chromium,
    eventually,
    new_context,
    register,
    sign_in,
    watch_for_problems,
)
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

RESET_REQUESTED = "rapport.identity.password_reset.requested.v1"


async def reset_id_for(rapport: RapportSystem, user_id: str) -> str:
    """The id of the user's reset request, from identity's event (the topic read from its
    start, until the event is there)."""
    consumer = AIOKafkaConsumer(
        TOPIC_IDENTITY,
        bootstrap_servers=rapport.kafka_bootstrap,
        group_id=f"e2e-reset-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:

        async def requested() -> str | None:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    if headers.get("ce_type") != RESET_REQUESTED or not record.value:
                        continue
                    event: dict[str, Any] = json.loads(record.value)
                    data = event.get("data", event)
                    if data["user_id"] == user_id:
                        return str(data["reset_id"])
            return None

        found: str = await eventually(requested, timeout=30)
        return found
    finally:
        await consumer.stop()


async def emailed_link(rapport: RapportSystem, user_id: str) -> str:
    """The link the reset email carries, built as the notifications service builds it."""
    reset_id = await reset_id_for(rapport, user_id)
    async with httpx.AsyncClient(base_url=rapport.url("identity"), timeout=15) as identity:
        answer = await identity.post(
            f"/internal/v1/password-resets/{reset_id}/link",
            headers={"Authorization": f"Bearer {DEVELOPMENT_SERVICE_KEY}"},
        )
    assert answer.status_code == 200, answer.text
    token = answer.json()["token"]
    rapport.must_never_log("password reset token", token)
    return PublicLinks(rapport.gateway_url).reset(token)


async def set_new_password(page: Page, password: str, again: str | None = None) -> None:
    await page.get_by_label("New password", exact=True).fill(password)
    await page.get_by_label("New password again").fill(password if again is None else again)
    await page.get_by_role("button", name="Set my new password").click()


async def test_a_forgotten_password_is_reset_from_the_emailed_link_once(
    rapport: RapportSystem,
) -> None:
    report = AxeReport()
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        person = await register(http, "clinician", "Dr. Lee Ortiz")
        context = await new_context(browser, rapport.gateway_url, inject_scripts=True)
        page = await context.new_page()
        problems: list[str] = []
        watch_for_problems(page, problems)

        # From the sign-in page to the request form; the answer does not tell whether the
        # account exists.
        await page.goto("/")
        await page.get_by_role("link", name="Forgot your password?").click()
        await page.wait_for_url("**/reset-password")
        await report.check(page, "reset password request")
        await page.get_by_label("Email").fill(person.email)
        await page.get_by_role("button", name="Email me a reset link").click()
        await expect(page.locator("#request-status")).to_contain_text("a reset link is on its way")

        link = await emailed_link(rapport, person.id)
        token = link.partition("#token=")[2]
        assert token
        await page.goto(link)
        await expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        assert "token" not in page.url
        await report.check(page, "choose a new password")

        await set_new_password(page, "short")
        await expect(page.locator("#new-password-error")).to_have_text("Use 8 to 128 characters.")
        await expect(page.get_by_label("New password", exact=True)).to_have_attribute(
            "aria-invalid", "true"
        )
        await set_new_password(page, "lee's new pass phrase", "lee's new pass phrose")
        await expect(page.locator("#confirm-password-error")).to_contain_text("differ")
        await report.check(page, "choose a new password, with refusals")
        # A common password is refused by identity, and the refusal is shown at the field.
        await set_new_password(page, "password123")
        await expect(page.locator("#new-password-error")).to_contain_text("common")

        new_password = "lee's new pass phrase"
        await set_new_password(page, new_password)
        status = page.locator("#reset-status")
        await expect(status).to_contain_text("Your password is changed.")
        stored = await page.evaluate(
            "JSON.stringify([{...sessionStorage}, {...localStorage}, document.cookie])"
        )
        assert token not in stored
        await status.get_by_role("link", name="Sign in with your new password").click()
        await page.wait_for_url(f"{rapport.gateway_url}/")
        await sign_in(page, Person(**{**vars(person), "password": new_password}))
        await page.wait_for_url("**/clinician")
        old = await http.post(
            "/v1/auth/login", json={"email": person.email, "password": person.password}
        )
        assert old.status_code == 401, old.text

        # The used link says so, and offers to send a new one.
        await page.goto(link)
        await set_new_password(page, "yet another pass phrase")
        await expect(status).to_contain_text("used already or has expired")
        await expect(page.get_by_role("button", name="Email me a reset link")).to_be_visible()
        await report.check(page, "used reset link")
        assert problems == [], problems

    assert report.blocking == [], "\n".join(report.blocking)
