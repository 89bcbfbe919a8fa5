"""The client's location at the start of a session, and the call's chat kept by the clinic,
in real browsers (Chromium) against every Rapport process.

The clinician lists where they are licensed on the account page. In the waiting room the
client says where they are (a mistake first, shown next to its field); the dashboard shows it
with a jurisdiction warning before the clinician admits. With the clinic keeping chat
transcripts, the call's messages end up in the clinician's private record, read back through
the API by the clinician alone. axe-core checks each new screen.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser import (
    AxeReport,
    book_now,
    chromium,
    eventually,
    new_context,
    register,
    screenshot,
    sign_in,
    start_care,
    video_decodes,
    watch_for_problems,
)
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

KEEP_TRANSCRIPTS = {"RAPPORT_RECORDS_KEEP_CHAT_TRANSCRIPTS": "true"}


async def test_the_clinician_sees_where_the_client_is_and_a_jurisdiction_warning_before_admitting(
    rapport: RapportSystem,
) -> None:
    marker = uuid.uuid4().hex[:10]
    address = f"Flat 3, 12 Orchard Street {marker}"
    chat = f"Can you see my screen {marker}"
    rapport.must_never_log("a stated address", address)
    rapport.must_never_log("chat text", chat)
    report = AxeReport()
    await asyncio.to_thread(rapport.restart, "records", **KEEP_TRANSCRIPTS)
    try:
        async with (
            httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
            chromium() as browser,
        ):
            clinician = await register(http, "clinician", "Dr. Noor Haddad")
            client = await register(http, "client", "Sam Ortiz", invited_by=clinician)
            await start_care(http, clinician, client)
            session_id = await book_now(http, clinician, client)
            desk = await new_context(browser, rapport.gateway_url, inject_scripts=True)
            phone = await new_context(browser, rapport.gateway_url, phone=True, inject_scripts=True)
            dashboard, mobile = await desk.new_page(), await phone.new_page()
            problems: list[str] = []
            for page in (dashboard, mobile):
                watch_for_problems(page, problems)

            # The clinician is licensed in New Jersey alone.
            await sign_in(dashboard, clinician, "/account")
            await dashboard.locator("#jurisdiction-country").select_option("US")
            await dashboard.get_by_label("State, province or region").select_option("US-NJ")
            await dashboard.get_by_role("button", name="Add this region").click()
            await expect(
                dashboard.locator("#jurisdictions li[data-region='US-NJ']")
            ).to_contain_text("New Jersey, United States")
            await report.check(dashboard, "account with licensed jurisdictions")
            await dashboard.goto("/clinician")

            await sign_in(mobile, client, f"/join?session_id={session_id}")
            await mobile.get_by_role("button", name="Join the waiting room").click()
            form = mobile.locator("#location-card")
            await expect(form).to_be_visible(timeout=60_000)
            waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
            await expect(waiting.locator(".location")).to_contain_text(
                "Location not confirmed yet", timeout=60_000
            )

            # New York, at home; the first emergency contact's number is no number.
            await form.get_by_label("Country").select_option("US")
            await form.get_by_label("State, province or region").select_option("US-NY")
            await form.get_by_label("Yes, I am at home").check()
            await form.get_by_label("Address, or where you are").fill(address)
            await form.get_by_label("Name").fill("Robin Ortiz")
            await form.get_by_label("Phone number").fill("555")
            await form.get_by_role("button", name="Confirm where I am").click()
            await expect(mobile.locator("#contact-phone-error")).to_contain_text("phone number")
            await expect(form.get_by_label("Phone number")).to_have_attribute(
                "aria-invalid", "true"
            )
            await report.check(mobile, "waiting room: a location the API refused")
            await form.get_by_label("Phone number").fill("+1 212 555 0100")
            await form.get_by_role("button", name="Confirm where I am").click()
            await expect(mobile.locator("#location-status")).to_contain_text(
                "New York, United States, at home"
            )
            await expect(mobile.locator("#contact-phone-error")).to_be_hidden()
            await report.check(mobile, "waiting room: location stated")

            # Before admitting: where, the address and contact, and the warning.
            location = waiting.locator(".location")
            await expect(location).to_have_attribute("data-location-state", "stated")
            await expect(location).to_contain_text("New York, United States")
            await expect(location).to_contain_text("at home")
            await expect(location).to_contain_text(address)
            await expect(location).to_contain_text("Robin Ortiz, +12125550100")
            warning = location.locator("[data-jurisdiction-warning='US-NY']")
            await expect(warning).to_contain_text("Outside your licensed jurisdictions")
            await expect(warning).to_contain_text("New Jersey, United States")
            await report.check(dashboard, "dashboard: a waiting client's location and warning")
            await waiting.scroll_into_view_if_needed()
            await screenshot(dashboard, "clinician-waiting-client-location")

            # The call's chat, kept by the clinician's page when the session ends.
            await expect(dashboard.locator("#call-chat-hint")).to_contain_text("keeps")
            await waiting.get_by_role("button", name="Admit Sam Ortiz").click()
            await video_decodes(dashboard, mobile)
            await mobile.locator("#chat textarea").fill(chat)
            await mobile.locator("#chat").get_by_role("button", name="Send").click()
            await expect(dashboard.locator("#call-chat .chat-log li").last).to_contain_text(chat)
            await dashboard.get_by_role("button", name="End session").click()
            await expect(mobile.locator("#check-in")).to_be_visible(timeout=15_000)

            transcript_path = f"/v1/sessions/{session_id}/chat-transcript"

            async def kept() -> list[str]:
                response = await http.get(transcript_path, headers=clinician.headers)
                return (
                    [m["text"] for m in response.json()["messages"]] if response.is_success else []
                )

            assert await eventually(kept) == [chat]
            refused = await http.get(transcript_path, headers=client.headers)
            assert refused.status_code == 403 and chat not in refused.text
            assert problems == []
            assert not report.blocking, "\n".join(report.blocking)
    finally:
        await asyncio.to_thread(rapport.restart, "records")
