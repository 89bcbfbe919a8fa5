"""axe-core on every main screen of the web app, as people reach them in a real browser.

No serious or critical violation is allowed; the others are printed. The screens are the
sign-in page, the reset-link request, the clinician's availability page, the dashboard with a
client waiting, the call, the client's join page (device check), waiting room, check-in and
thank-you chart, the client's own page with charts and booking, and the clinician's view of
the client's record.
The settings screens (invitation, account, treatment plan) are checked in
test_browser_settings.py; the reset-password page in each of its states in
test_browser_reset_password.py.
"""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import expect

from tests.e2e.browser import (
    BLOCKING,
    AxeReport,
    agreed_goal,
    axe_violations,
    book_now,
    chromium,
    eventually,
    frames_decoded,
    new_context,
    register,
    screenshot,
    set_hours_now_in_browser,
    sign_in,
    start_care,
)
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e


async def test_the_main_screens_have_no_serious_accessibility_violations(
    rapport: RapportSystem,
) -> None:
    report = AxeReport()
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Ada Moss")
        client = await register(http, "client", "Kim Park", invited_by=clinician)
        await start_care(http, clinician, client)
        goal = await agreed_goal(http, clinician, client, "Walk to work three days a week")
        await agreed_goal(http, clinician, client, "Call a friend every week")
        value = await http.post(
            "/v1/values", headers=client.headers, json={"statement": "Being there for my kids"}
        )
        assert value.status_code == 201, value.text
        note = await http.post(
            "/v1/notes",
            headers=clinician.headers,
            json={"client_id": client.id, "visibility": "shared", "text": "Try the morning walk."},
        )
        assert note.status_code == 201, note.text
        session_id = await book_now(http, clinician, client)

        desk = await new_context(browser, rapport.gateway_url, inject_scripts=True)
        phone = await new_context(browser, rapport.gateway_url, phone=True, inject_scripts=True)
        dashboard = await desk.new_page()
        mobile = await phone.new_page()

        # Free slots for the client's booking form, from the clinician's availability page.
        await sign_in(dashboard, clinician)
        await set_hours_now_in_browser(dashboard)
        await report.check(dashboard, "availability")

        await mobile.goto("/")
        # The check can fail: an unlabelled field is a critical violation.
        await mobile.evaluate(
            "document.querySelector('form').append(Object.assign("
            "document.createElement('input'), {id: 'unlabelled'}))"
        )
        assert "label" in {v["id"] for v in await axe_violations(mobile) if v["impact"] in BLOCKING}
        await mobile.evaluate("document.getElementById('unlabelled').remove()")
        await report.check(mobile, "sign-in")
        await mobile.goto("/reset-password")
        await report.check(mobile, "reset password request")
        await sign_in(mobile, client, f"/join?session_id={session_id}")
        await expect(mobile.locator("#title")).to_contain_text("Your session with")
        await report.check(mobile, "join / device check")
        await mobile.get_by_role("button", name="Join the waiting room").click()
        await expect(mobile.locator("#waiting")).to_be_visible(timeout=60_000)
        await report.check(mobile, "waiting room")

        # The echo test call: the client's own video comes back from signaling's echo peer.
        await mobile.get_by_role("button", name="Start a test call").click()
        await expect(mobile.locator("#echo-status")).to_contain_text("Test call running")

        async def echo_video() -> bool:
            return await frames_decoded(mobile, echo=True) > 0

        await eventually(echo_video, timeout=30)
        await report.check(mobile, "waiting room with the test call")
        await mobile.get_by_role("button", name="Stop the test call").click()
        await expect(mobile.locator("#echo-video")).to_be_hidden()

        await sign_in(dashboard, clinician)
        waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
        await expect(waiting).to_be_visible(timeout=60_000)
        await report.check(dashboard, "dashboard with a waiting client")
        await waiting.get_by_role("button", name="Admit Kim Park").click()
        await expect(dashboard.locator("#call")).to_be_visible()
        await expect(mobile.locator("#call")).to_be_visible()
        await report.check(dashboard, "clinician in the call")
        await report.check(mobile, "client in the call")
        await dashboard.get_by_role("button", name="End session").click()
        await expect(mobile.locator("#check-in")).to_be_visible(timeout=15_000)
        await report.check(mobile, "check-in")
        await mobile.locator("#scale-overall").fill("8")
        await mobile.get_by_role("button", name="Send my check-in").click()
        await expect(mobile.locator("#check-in-chart")).to_be_visible()
        await report.check(mobile, "thank-you with progress chart")

        async def clinician_rating_stored() -> bool:
            update = await http.post(
                f"/v1/goals/{goal['id']}/updates",
                headers=clinician.headers,
                json={"session_id": session_id, "progress": 6, "note": "Walked twice"},
            )
            return update.status_code == 201

        await eventually(clinician_rating_stored)

        await mobile.goto("/client")
        await expect(mobile.locator("#check-in-chart")).to_be_visible()
        await expect(mobile.locator("#goals")).to_contain_text("Walk to work")
        await expect(mobile.get_by_role("radio").first).to_be_checked()
        await report.check(mobile, "client page with charts and booking")
        await screenshot(mobile, "phone-client-page")

        await dashboard.goto(f"/clinician/client?id={client.id}")
        await expect(dashboard.locator("#client-name")).to_have_text("Kim Park")
        await expect(dashboard.locator("#check-in-chart")).to_be_visible()
        await expect(dashboard.locator("#readiness")).to_contain_text("Goals achieved")
        await report.check(dashboard, "client record")
        await screenshot(dashboard, "clinician-client-record")

        await dashboard.goto("/clinician")
        await expect(dashboard.locator("#today li[data-session-id]")).to_have_count(1)
        await report.check(dashboard, "dashboard and booking")
        await screenshot(dashboard, "clinician-dashboard")

    assert len(report.screens) == 14
    assert report.blocking == [], "\n".join(report.blocking)
