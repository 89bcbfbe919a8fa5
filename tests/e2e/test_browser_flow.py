"""The whole flow in a real browser: a clinician on a desktop and a client on a phone-sized
screen, two Chromium contexts against every Rapport process (real Kafka, real PostgreSQL).

Sign in, open weekly hours (the clinician, on the availability page), book (the client, from
the clinician's free slots), join, wait, admit, video
decoded on both sides, a live goal update on the client's screen, end, check-in, and the
client's chart showing the new point.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pyotp
import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser import (
    agreed_goal,
    chromium,
    daytime_zone,
    eventually,
    new_context,
    register,
    screenshot,
    set_hours_now_in_browser,
    sign_in,
    start_care,
    video_decodes,
)
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

CHECK_IN = {"relationship": 9, "goals_and_topics": 9, "approach": 10, "overall": 9}
OUTCOME = {"individual": 6, "interpersonal": 7, "social": 5, "overall": 6}


async def set_range(page: Page, selector: str, value: int) -> None:
    await page.locator(selector).fill(str(value))


async def test_a_clinician_and_a_client_run_a_session_in_the_browser(
    rapport: RapportSystem,
) -> None:
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Robin Lee")
        client = await register(http, "client", "Sam Rivera", invited_by=clinician)
        await start_care(http, clinician, client)
        goal = await agreed_goal(http, clinician, client, "Sleep through the night")

        desk = await new_context(browser, rapport.gateway_url)
        phone = await new_context(browser, rapport.gateway_url, phone=True)
        dashboard = await desk.new_page()
        mobile = await phone.new_page()
        problems: list[str] = []
        for page in (dashboard, mobile):
            page.on("pageerror", lambda error: problems.append(str(error)))
            # The pages must work under their Content Security Policy, Chart.js included.
            page.on(
                "console",
                lambda message: (
                    "Content Security Policy" in message.text and problems.append(message.text)
                ),
            )

        # The client signs in and books the clinician's free slot that starts now.
        await dashboard.goto("/")
        await screenshot(dashboard, "sign-in")
        # The clinician opens weekly hours that start now, on their availability page.
        await sign_in(dashboard, clinician)
        assert dashboard.url.endswith("/clinician")
        await set_hours_now_in_browser(dashboard)
        await sign_in(mobile, client)
        assert mobile.url.endswith("/client")
        slot = mobile.get_by_role("radio").first
        await expect(slot).to_be_checked()
        starts_at = await slot.get_attribute("data-starts-at")
        assert starts_at
        await mobile.get_by_role("button", name="Book this time").click()
        await expect(mobile.locator("#booking-status")).to_contain_text("Booked")
        booked = mobile.locator("#sessions li[data-session-id]")
        await expect(booked).to_have_count(1)
        session_id = await booked.get_attribute("data-session-id")
        assert session_id
        appointments = (await http.get("/v1/appointments", headers=client.headers)).json()
        [appointment] = [a for a in appointments if a["session_id"] == session_id]
        assert datetime.fromisoformat(appointment["starts_at"]) == datetime.fromisoformat(starts_at)
        await screenshot(mobile, "phone-booked")

        # The clinician's day shows it.
        await dashboard.goto("/clinician")
        await expect(
            dashboard.locator(f"#today li[data-session-id='{session_id}']")
        ).to_contain_text("Sam Rivera")

        # The client follows the join link, checks devices, enters the waiting room.
        await booked.get_by_role("link", name="Join session").click()
        await mobile.wait_for_url(f"**/join?session_id={session_id}")
        await expect(mobile.locator("#title")).to_contain_text("Your session with")
        await expect(mobile.locator("#device-status")).to_contain_text("are working")
        playing = "() => document.querySelector('#preview').currentTime > 0.5"
        await mobile.wait_for_function(playing)
        await screenshot(mobile, "phone-device-check")
        await mobile.get_by_role("button", name="Join the waiting room").click()
        await expect(mobile.locator("#waiting")).to_be_visible(timeout=60_000)
        await expect(mobile.locator("#clinician-status")).to_have_text("online", timeout=60_000)
        await mobile.wait_for_function(playing)
        await screenshot(mobile, "phone-waiting-room")
        # While waiting, the client says how the week went (the outcome check-in).
        for name, value in OUTCOME.items():
            await set_range(mobile, f"#scale-outcome-{name}", value)
        await mobile.get_by_role("button", name="Send how my week went").click()
        await expect(mobile.locator("#outcome-status")).to_contain_text("Thank you")

        # The clinician sees who waits, and since when, and admits them.
        waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
        await expect(waiting).to_contain_text("Sam Rivera", timeout=60_000)
        await expect(waiting).to_contain_text("Waiting since")
        await screenshot(dashboard, "clinician-waiting-room")
        await waiting.get_by_role("button", name="Admit Sam Rivera").click()

        # Video decodes in both browsers.
        await expect(mobile.locator("#call")).to_be_visible()
        await expect(dashboard.locator("#call")).to_be_visible()

        await video_decodes(dashboard, mobile)
        await expect(dashboard.locator("#quality")).to_contain_text("Connection:", timeout=15_000)

        # Mute and camera off stop what the client sends, and say so on the buttons.
        sending = """(kind) => window.rapportCall.pc.getSenders()
            .filter((s) => s.track && s.track.kind === kind).map((s) => s.track.enabled)"""
        await mobile.get_by_role("button", name="Mute").click()
        await expect(mobile.get_by_role("button", name="Unmute")).to_have_attribute(
            "aria-pressed", "true"
        )
        assert await mobile.evaluate(sending, "audio") == [False]
        await mobile.get_by_role("button", name="Unmute").click()
        assert await mobile.evaluate(sending, "audio") == [True]
        await mobile.get_by_role("button", name="Camera off").click()
        assert await mobile.evaluate(sending, "video") == [False]
        await mobile.get_by_role("button", name="Camera on").click()
        assert await mobile.evaluate(sending, "video") == [True]

        # A goal update in the call appears on the client's screen at once.
        panel = dashboard.locator(f"#goal-panel [data-goal-id='{goal['id']}']")
        await set_range(dashboard, f"#progress-{goal['id']}", 7)
        await panel.get_by_label("Short note (private)").fill("Slept through twice")
        await panel.get_by_role("button", name="Share progress").click()
        live = mobile.locator(f"#live-goals li[data-goal-id='{goal['id']}'] .live-update")
        await expect(live).to_contain_text("7 / 10", timeout=15_000)
        await expect(panel.locator("[data-shared-goal]")).to_contain_text("Shared 7/10")
        await screenshot(dashboard, "clinician-call")
        await screenshot(mobile, "phone-call")

        async def stored_in_records() -> bool:
            record = await http.get(f"/v1/sessions/{session_id}", headers=clinician.headers)
            return any(u["progress"] == 7 for u in record.json()["goal_updates"])

        await eventually(stored_in_records)  # through signaling's event, so the chart has it

        # The clinician ends the session; the client checks in.
        await dashboard.get_by_role("button", name="End session").click()
        await expect(mobile.locator("#check-in")).to_be_visible(timeout=15_000)
        await expect(dashboard.locator("#call")).to_be_hidden()
        for name, value in CHECK_IN.items():
            await set_range(mobile, f"#scale-{name}", value)
        await set_range(mobile, f"#scale-goal-{goal['id']}", 6)
        await screenshot(mobile, "phone-check-in")
        await mobile.get_by_role("button", name="Send my check-in").click()

        # The client's chart shows this session's rating as its newest point.
        await expect(mobile.locator("#done")).to_be_visible()
        chart = mobile.locator("#check-in-chart")
        await expect(chart).to_be_visible()
        totals = await chart.evaluate(
            "(canvas) => Chart.getChart(canvas).data.datasets.map((d) => d.data)"
        )
        assert totals == [[sum(CHECK_IN.values())], [sum(OUTCOME.values())]]
        thresholds = await chart.evaluate(
            """(canvas) => Object.values(
                Chart.getChart(canvas).options.plugins.annotation.annotations
            ).map((a) => a.yMin)"""
        )
        assert sorted(thresholds) == [25, 36]
        goal_points = await mobile.evaluate(
            """(goalId) => {
                const canvas = document.querySelector(`canvas[data-goal-id="${goalId}"]`);
                return Chart.getChart(canvas).data.datasets.map((d) => d.data);
            }""",
            goal["id"],
        )
        assert goal_points == [[7], [6]]  # the clinician's live rating, the client's own
        await screenshot(mobile, "phone-progress")
        assert problems == []


async def test_sign_in_asks_for_the_one_time_code_and_tokens_refresh_in_the_tab(
    rapport: RapportSystem,
) -> None:
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Noor Haddad")
        enrolled = await http.post("/v1/auth/mfa/totp", headers=clinician.headers)
        assert enrolled.status_code == 201, enrolled.text
        totp = pyotp.TOTP(enrolled.json()["secret"])
        # Confirm with the previous step's code, so the current one is still unused.
        confirmed = await http.post(
            "/v1/auth/mfa/totp/confirm",
            headers=clinician.headers,
            json={"code": totp.at(time.time() - 30)},
        )
        assert confirmed.status_code == 200, confirmed.text

        page = await (await new_context(browser, rapport.gateway_url)).new_page()
        await page.goto("/")
        await page.get_by_label("Email").fill(clinician.email)
        await page.get_by_label("Password").fill(clinician.password)
        await page.get_by_role("button", name="Sign in").click()
        code = page.get_by_label("One-time code from your authenticator app")
        await expect(code).to_be_visible()
        assert page.url.endswith("/")
        await code.fill(totp.now())
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/clinician")
        await expect(page.locator("#who")).to_contain_text("Dr. Noor Haddad")

        # Tokens live in this tab's sessionStorage only; an expiring access token is renewed
        # with the refresh token (which rotates) before the next request.
        stored = json.loads(await page.evaluate("sessionStorage.getItem('rapport.auth')") or "null")
        assert stored and stored["refreshToken"]
        assert await page.evaluate("localStorage.length") == 0
        await page.evaluate(
            """() => {
                const auth = JSON.parse(sessionStorage.getItem("rapport.auth"));
                auth.expiresAt = 0;
                sessionStorage.setItem("rapport.auth", JSON.stringify(auth));
            }"""
        )
        await page.reload()
        await expect(page.locator("#today")).to_contain_text("Nothing booked today.")
        renewed = json.loads(await page.evaluate("sessionStorage.getItem('rapport.auth')"))
        assert renewed["refreshToken"] != stored["refreshToken"]
        assert renewed["expiresAt"] > time.time() * 1000


async def test_the_clinician_declines_a_client_then_admits_everyone_waiting(
    rapport: RapportSystem,
) -> None:
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Lou Brand")
        client = await register(http, "client", "Ari Stone", invited_by=clinician)
        await start_care(http, clinician, client)
        # The clinician's day is in a zone where it is midday, so the session booked now is
        # booked "today" whenever the test runs.
        zone = daytime_zone()
        desk = await new_context(browser, rapport.gateway_url, timezone_id=zone)
        dashboard = await desk.new_page()
        mobile = await (await new_context(browser, rapport.gateway_url, phone=True)).new_page()

        # The clinician books a session starting now for the client.
        await sign_in(dashboard, clinician)
        await dashboard.get_by_label("Client", exact=True).select_option(client.id)
        now = datetime.now(ZoneInfo(zone)).replace(second=0, microsecond=0)
        await dashboard.get_by_label("Starts").fill(now.strftime("%Y-%m-%dT%H:%M"))
        await dashboard.get_by_role("button", name="Book", exact=True).click()
        await expect(dashboard.locator("#book-status")).to_contain_text("Booked Ari Stone")
        booked = dashboard.locator("#today li[data-session-id]")
        await expect(booked).to_have_count(1)
        session_id = await booked.get_attribute("data-session-id")
        await sign_in(mobile, client, f"/join?session_id={session_id}")

        join = mobile.get_by_role("button", name="Join the waiting room")
        await join.click()
        waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
        await expect(waiting).to_contain_text("Ari Stone", timeout=60_000)
        await waiting.get_by_role("button", name="Decline Ari Stone").click()
        await expect(mobile.locator("#join-status")).to_contain_text("cannot see you now")
        await expect(waiting).to_have_count(0)
        await expect(dashboard.locator("#waiting-list")).to_contain_text("Nobody is waiting.")

        # The client tries again; this time the clinician admits everyone waiting.
        await join.click()
        await expect(waiting).to_be_visible(timeout=30_000)
        await dashboard.get_by_role("button", name="Admit everyone").click()
        await expect(mobile.locator("#call")).to_be_visible()
        await expect(dashboard.locator("#call-title")).to_have_text("In session with Ari Stone")

        await video_decodes(dashboard, mobile)
