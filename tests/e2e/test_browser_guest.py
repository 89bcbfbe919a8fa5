"""A guest without an account in real browsers (Chromium), against every Rapport process.

The clinician invites an interpreter to a session from the dashboard; the interpreter opens
the one-time link, passes the device check and the waiting room, is admitted and talks with
the clinician; the session record's attendance names them with their relationship. The link
works once, and the clinician's revocation takes the interpreter out of the call.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser import (
    book_now,
    chromium,
    eventually,
    new_context,
    register,
    sign_in,
    start_care,
    video_decodes,
    watch_for_problems,
)
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e


async def test_an_interpreter_joins_by_guest_link_and_is_in_the_attendance(
    rapport: RapportSystem,
) -> None:
    async with (
        chromium() as browser,
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
    ):
        clinician = await register(http, "clinician", "Dr. Rae Okafor")
        client = await register(http, "client", "Lee Marsh", invited_by=clinician)
        await start_care(http, clinician, client)
        session_id = await book_now(http, clinician, client)
        dashboard = await (await new_context(browser, rapport.gateway_url)).new_page()
        interpreter = await (await new_context(browser, rapport.gateway_url)).new_page()
        problems: list[str] = []
        for page in (dashboard, interpreter):
            watch_for_problems(page, problems)
        await sign_in(dashboard, clinician)

        # The clinician makes a link for an interpreter on the session's dashboard.
        await expect(
            dashboard.locator(f"#guest-session option[value='{session_id}']")
        ).to_have_count(1)
        await dashboard.locator("#guest-session").select_option(session_id)
        await dashboard.locator("#guest-relationship").select_option("interpreter")
        await dashboard.get_by_role("button", name="Create guest link").click()
        await expect(dashboard.locator("#guest-link-box")).to_be_visible()
        link = await dashboard.locator("#guest-link").input_value()
        assert "/guest#link=" in link
        await expect(dashboard.locator("#guest-links li")).to_contain_text("pending")

        # The interpreter opens it: device check, then the waiting room.
        await interpreter.goto(link)
        await expect(interpreter.locator("#guest-role")).to_contain_text("an interpreter")
        assert "#" not in interpreter.url  # the link's token left the address bar
        await interpreter.get_by_label("Your name").fill("Ana Interpreter")
        await interpreter.get_by_role("button", name="Join the waiting room").click()
        await expect(interpreter.locator("#waiting")).to_be_visible(timeout=60_000)
        waiting = dashboard.locator("#waiting-list li", has_text="Ana Interpreter")
        await expect(waiting).to_contain_text("Guest", timeout=60_000)
        guest_id = await waiting.get_attribute("data-user-id")
        assert guest_id

        # Admitted like anyone else: the two see each other.
        await waiting.get_by_role("button", name="Admit Ana Interpreter").click()
        await expect(interpreter.locator("#call")).to_be_visible()
        await expect(dashboard.locator("#call")).to_be_visible()
        await video_decodes(dashboard, interpreter)

        # The link worked once: opened again, it says so.
        again = await (await new_context(browser, rapport.gateway_url)).new_page()
        await again.goto(link)
        await expect(again.locator("#join-status")).to_contain_text("already used")

        async def attended() -> list[dict[str, Any]]:
            record = await http.get(f"/v1/sessions/{session_id}", headers=clinician.headers)
            assert record.status_code == 200, record.text
            return [a for a in record.json()["attendees"] if a["user_id"] == guest_id]

        [attendee] = await eventually(attended)
        assert (attendee["role"], attendee["relationship"]) == ("guest", "interpreter")

        # The clinician revokes the interpreter, who leaves the call at once.
        guest_row = dashboard.locator(f"#guest-links li[data-guest-id='{guest_id}']")
        await guest_row.get_by_role("button", name="Revoke interpreter").click()
        await expect(interpreter.locator("#done")).to_contain_text("withdrawn", timeout=30_000)
        await expect(guest_row).to_contain_text("revoked")
        assert problems == []
