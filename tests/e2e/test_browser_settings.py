"""The settings screens in a real browser, against the full system (real Kafka, PostgreSQL).

A clinician invites a client, who accepts on a phone (name, time zone, password, with the
server's refusals shown next to the field) and books from hours the clinician set on the
availability page; account settings (profile, TOTP with recovery codes, a new password);
the waiting-room controls (presence, send back, admit again with video); and the treatment
plan (ending criteria, active → ending → completed, discharge, each with a confirmation).
axe-core checks every new screen; the tests take the screenshots in docs/screenshots.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
from playwright.async_api import expect

from tests.e2e.browser import (
    SCREENSHOTS,
    AxeReport,
    Person,
    book_now,
    chromium,
    eventually,
    new_context,
    register,
    screenshot,
    set_hours_now_in_browser,
    sign_in,
    start_care,
    video_decodes,
    watch_for_problems,
)
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e


async def test_an_invited_client_accepts_on_a_phone_and_books_hours_set_in_the_browser(
    rapport: RapportSystem,
) -> None:
    report = AxeReport()
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Mara Quinn")
        desk = await new_context(browser, rapport.gateway_url, inject_scripts=True)
        phone = await new_context(
            browser,
            rapport.gateway_url,
            phone=True,
            inject_scripts=True,
            timezone_id="Europe/Paris",
        )
        dashboard = await desk.new_page()
        mobile = await phone.new_page()
        problems: list[str] = []
        for watched in (dashboard, mobile):
            watch_for_problems(watched, problems)

        # The clinician invites the client by email and gets a one-time link to pass on.
        email = f"jo-{uuid.uuid4().hex[:8]}@example.com"
        await sign_in(dashboard, clinician)
        await expect(dashboard.locator("#clients")).to_contain_text("No clients yet.")
        await expect(dashboard.locator("#today")).to_contain_text("Nothing booked today.")
        await dashboard.get_by_label("Client's email").fill(email)
        await dashboard.get_by_role("button", name="Create invitation").click()
        await expect(dashboard.locator("#invite-status")).to_contain_text(f"Invitation for {email}")
        link = await dashboard.get_by_label("Invitation link").input_value()
        assert link.startswith(f"{rapport.gateway_url}/accept-invitation#")
        assert "token=" in link
        await dashboard.get_by_role("button", name="Copy link").click()
        await expect(dashboard.locator("#copy-status")).to_have_text("Copied.")
        assert await dashboard.evaluate("navigator.clipboard.readText()") == link
        invited = dashboard.locator("#invitations li", has_text=email)
        await expect(invited).to_contain_text("pending")
        await report.check(dashboard, "dashboard with an invitation")
        await screenshot(dashboard, "clinician-invitation")

        # The client opens it on a phone: the email and the phone's time zone are filled in,
        # and the token leaves the address bar.
        await mobile.goto(link)
        await expect(mobile.get_by_label("Email")).to_have_value(email)
        await expect(mobile.get_by_label("Time zone")).to_have_value("Europe/Paris")
        assert "token" not in mobile.url
        await expect(mobile.locator("#password-rules")).to_contain_text("8 to 128 characters")
        await report.check(mobile, "accept invitation")
        await mobile.get_by_label("Your name, as your clinician sees it").fill("Jo Novak")
        # A common password is refused by the server, and the refusal is shown at the field.
        await mobile.get_by_label("Password").fill("password123")
        await mobile.get_by_role("button", name="Create my account").click()
        password_error = mobile.locator("#password-error")
        await expect(password_error).to_contain_text("common")
        await expect(mobile.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
        await report.check(mobile, "accept invitation with a refused password")
        await screenshot(mobile, "phone-accept-invitation")
        password = "jo picks a long pass phrase"
        await mobile.get_by_label("Password").fill(password)
        await mobile.get_by_role("button", name="Create my account").click()
        await mobile.wait_for_url("**/client")
        await expect(mobile.locator("#hello")).to_have_text("Hello, Jo Novak")

        login = await http.post("/v1/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        assert login.json()["user"]["time_zone"] == "Europe/Paris"
        client = Person(
            id=login.json()["user"]["id"],
            email=email,
            password=password,
            display_name="Jo Novak",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )

        # The clinician sees the invitation accepted, and Jo's record.
        await dashboard.goto("/clinician")
        await expect(invited).to_contain_text("accepted")
        await dashboard.get_by_role("link", name="Open Jo Novak's record").click()
        await expect(dashboard.locator("#client-name")).to_have_text("Jo Novak")
        # Accepting the invitation starts the care relationship (identity's event reaches
        # records); should the page open before it did, the clinician starts care here.
        plan = dashboard.locator("#plan-status-text")
        start = dashboard.get_by_role("button", name="Start care")
        await expect(plan.or_(start)).to_be_visible()
        if await start.is_visible():
            await start.click()
        await expect(plan).to_have_text("Active", timeout=45_000)

        # Weekly hours that start now, and exceptions, on the availability page.
        hours = await set_hours_now_in_browser(dashboard)
        later = (datetime.now(UTC) + timedelta(days=8)).date().isoformat()
        extra = (datetime.now(UTC) + timedelta(days=9)).date().isoformat()
        await dashboard.get_by_label("From", exact=True).fill(later)
        await dashboard.get_by_role("button", name="Add exception").click()
        await expect(dashboard.locator("#exceptions")).to_contain_text(
            f"Time off: {later} (whole day)"
        )
        await dashboard.get_by_role("radio", name="Extra hours").check()
        await dashboard.get_by_label("From", exact=True).fill(extra)
        await dashboard.get_by_label("Start time (optional for time off)").fill("18:00")
        await dashboard.get_by_label("End time").fill("20:00")
        await dashboard.get_by_role("button", name="Add exception").click()
        await expect(dashboard.locator("#exceptions")).to_contain_text(
            f"Extra hours: {extra} 18:00–20:00"
        )
        await report.check(dashboard, "availability with exceptions")
        await screenshot(dashboard, "clinician-availability")
        await dashboard.get_by_role("button", name=f"Remove Time off: {later}").click()
        await expect(dashboard.locator("#exceptions li")).to_have_count(1)
        stored = (await http.get("/v1/availability", headers=clinician.headers)).json()
        assert [(e["kind"], e["first_day"], e["start"]) for e in stored["exceptions"]] == [
            ("extra", extra, "18:00")
        ]
        assert stored["time_zone"] == hours.time_zone
        assert len(stored["weekly_hours"]) == 1

        # The client books the slot under way from those hours.
        await mobile.goto("/client")
        slot = mobile.get_by_role("radio").first
        await expect(slot).to_be_checked()
        await mobile.get_by_role("button", name="Book this time").click()
        await expect(mobile.locator("#booking-status")).to_contain_text("Booked")
        appointments = (await http.get("/v1/appointments", headers=client.headers)).json()
        assert [a["clinician_id"] for a in appointments] == [clinician.id]
        assert problems == []

    assert report.blocking == [], "\n".join(report.blocking)


def _wrong_code(totp: pyotp.TOTP) -> str:
    """A six-digit code that no step near now accepts."""
    near = {totp.at(time.time() + offset) for offset in (-60, -30, 0, 30, 60)}
    return next(f"{n:06d}" for n in range(1, 100) if f"{n:06d}" not in near)


async def test_account_settings_change_the_profile_password_and_turn_on_totp(
    rapport: RapportSystem,
) -> None:
    report = AxeReport()
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Kit Ward")
        page = await (
            await new_context(browser, rapport.gateway_url, inject_scripts=True)
        ).new_page()
        problems: list[str] = []
        watch_for_problems(page, problems)
        await sign_in(page, clinician)
        await page.get_by_role("link", name="Account").click()
        await page.wait_for_url("**/account")
        await expect(page.get_by_label("Display name")).to_have_value("Dr. Kit Ward")
        await report.check(page, "account")

        # Profile: a zone that does not exist is refused at the field; then a real one.
        await page.get_by_label("Display name").fill("Dr. Kit Ward-Ames")
        await page.get_by_label("Time zone").fill("Mars/Olympus_Mons")
        await page.get_by_role("button", name="Save profile").click()
        await expect(page.locator("#time-zone-error")).to_contain_text("time zone")
        await page.get_by_label("Time zone").fill("Europe/Berlin")
        await page.get_by_role("button", name="Save profile").click()
        await expect(page.locator("#profile-status")).to_have_text("Profile saved.")
        await expect(page.locator("#time-zone-error")).to_be_hidden()
        await expect(page.locator("#who")).to_contain_text("Dr. Kit Ward-Ames")
        me = (await http.get("/v1/users/me", headers=clinician.headers)).json()
        assert (me["display_name"], me["time_zone"]) == ("Dr. Kit Ward-Ames", "Europe/Berlin")

        # A new password: the current one must be right, the new one not a common one.
        change = page.get_by_role("button", name="Change password")
        await page.get_by_label("Current password").fill("not my password at all")
        await page.get_by_label("New password").fill("a brand new pass phrase")
        await change.click()
        await expect(page.locator("#current-password-error")).to_contain_text("not your current")
        await page.get_by_label("Current password").fill(clinician.password)
        await page.get_by_label("New password").fill("password123")
        await change.click()
        await expect(page.locator("#current-password-error")).to_be_hidden()
        await expect(page.locator("#new-password-error")).to_contain_text("common")
        new_password = "a brand new pass phrase"
        await page.get_by_label("New password").fill(new_password)
        await change.click()
        await expect(page.locator("#password-status")).to_have_text("Password changed.")
        old = await http.post(
            "/v1/auth/login", json={"email": clinician.email, "password": clinician.password}
        )
        assert old.status_code == 401, old.text

        # Two-step sign-in: the key and otpauth link as text, a wrong code refused at the
        # field, the right one turns it on and shows the recovery codes once.
        await page.get_by_role("button", name="Set up two-step sign-in").click()
        await expect(page.locator("#totp-secret")).not_to_be_empty()
        secret = (await page.locator("#totp-secret").text_content() or "").strip()
        assert secret
        await expect(page.locator("#totp-uri")).to_contain_text("otpauth://totp/")
        totp = pyotp.TOTP(secret)
        await page.get_by_label("Code the app shows now").fill(_wrong_code(totp))
        await page.get_by_role("button", name="Turn on two-step sign-in").click()
        await expect(page.locator("#totp-code-error")).to_contain_text("did not match")
        # The previous step's code, so the current one is still unused for the sign-in below.
        await page.get_by_label("Code the app shows now").fill(totp.at(time.time() - 30))
        await page.get_by_role("button", name="Turn on two-step sign-in").click()
        await expect(page.locator("#mfa-codes")).to_be_visible()
        assert await page.locator("#recovery-codes li").count() >= 5
        await report.check(page, "account with recovery codes")
        await screenshot(page, "account")

        # Signing in again takes the new password and a code.
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url(re.compile(r"/$"))
        await page.get_by_label("Email").fill(clinician.email)
        await page.get_by_label("Password").fill(new_password)
        await page.get_by_role("button", name="Sign in").click()
        code = page.get_by_label("One-time code from your authenticator app")
        await expect(code).to_be_visible()
        await code.fill(totp.now())
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/clinician")
        await expect(page.locator("#who")).to_contain_text("Dr. Kit Ward-Ames")
        assert problems == []

    assert report.blocking == [], "\n".join(report.blocking)


async def test_presence_and_sending_a_client_back_to_the_waiting_room(
    rapport: RapportSystem,
) -> None:
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Pia Lund")
        client = await register(http, "client", "Ola Berg", invited_by=clinician)
        await start_care(http, clinician, client)
        session_id = await book_now(http, clinician, client)
        dashboard = await (await new_context(browser, rapport.gateway_url)).new_page()
        mobile = await (await new_context(browser, rapport.gateway_url, phone=True)).new_page()
        problems: list[str] = []
        for watched in (dashboard, mobile):
            watch_for_problems(watched, problems)

        await sign_in(dashboard, clinician)
        await sign_in(mobile, client, f"/join?session_id={session_id}")
        await mobile.get_by_role("button", name="Join the waiting room").click()
        badge = mobile.locator("#clinician-status")
        await expect(badge).to_have_text("online", timeout=60_000)
        waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
        await expect(waiting).to_be_visible(timeout=60_000)

        # The clinician steps away for a moment, then is back: the client sees both.
        presence = dashboard.get_by_label("Your status for waiting clients")
        await presence.select_option("away")
        await expect(badge).to_have_text("away for a moment")
        await expect(dashboard.locator("#presence-status")).to_contain_text("away for a moment")
        await mobile.locator("#waiting").screenshot(
            path=str(SCREENSHOTS / "phone-waiting-room-away.png")
        )
        await presence.select_option("online")
        await expect(badge).to_have_text("online")

        await waiting.get_by_role("button", name="Admit Ola Berg").click()
        await expect(mobile.locator("#call")).to_be_visible()
        await video_decodes(dashboard, mobile)

        # Sent back: the client waits again, the clinician sees them waiting.
        await dashboard.get_by_role("button", name="Send back to the waiting room").click()
        await expect(mobile.locator("#waiting")).to_be_visible()
        await expect(mobile.locator("#call")).to_be_hidden()
        await expect(mobile.locator("#join-status")).to_contain_text("back to the waiting room")
        await expect(dashboard.locator("#call")).to_be_hidden()
        await expect(dashboard.locator("#status")).to_contain_text(
            "Ola Berg is back in the waiting room"
        )
        await expect(waiting).to_be_visible()

        # Admitted again, the call works as the first time.
        await waiting.get_by_role("button", name="Admit Ola Berg").click()
        await expect(mobile.locator("#call")).to_be_visible()
        await expect(dashboard.locator("#call")).to_be_visible()
        await video_decodes(dashboard, mobile)
        assert problems == []


async def test_the_treatment_plan_moves_to_completed_and_a_client_is_discharged(
    rapport: RapportSystem,
) -> None:
    report = AxeReport()
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician = await register(http, "clinician", "Dr. Eli Hart")
        ending = await register(http, "client", "Rae Moon", invited_by=clinician)
        leaving = await register(http, "client", "Tom Vale", invited_by=clinician)
        for client in (ending, leaving):
            await start_care(http, clinician, client)
        page = await (
            await new_context(browser, rapport.gateway_url, inject_scripts=True)
        ).new_page()
        problems: list[str] = []
        watch_for_problems(page, problems)
        await sign_in(page, clinician)

        async def relationship(client: Person) -> dict[str, object]:
            listed = (await http.get("/v1/care-relationships", headers=clinician.headers)).json()
            return dict(next(r for r in listed if r["client_id"] == client.id))

        await page.goto(f"/clinician/client?id={ending.id}")
        await expect(page.locator("#client-name")).to_have_text("Rae Moon")
        plan = page.locator("#plan-status-text")
        await expect(plan).to_have_text("Active")
        await page.get_by_label("Ending criteria").fill("Sleeping through most nights for a month")
        await page.get_by_role("button", name="Save ending criteria").click()
        await expect(page.locator("#criteria-text")).to_have_text(
            "Sleeping through most nights for a month"
        )
        await page.get_by_role("button", name="Start the planned ending").click()
        await expect(plan).to_have_text("Planned ending under way")
        await expect(page.locator("#readiness")).to_contain_text("ending")

        # Completing asks first; cancelling changes nothing.
        complete = page.get_by_role("button", name="Mark the plan completed")
        await complete.click()
        confirm = page.locator("#confirm")
        await expect(confirm).to_contain_text("cannot be reopened")
        await report.check(page, "treatment plan with a confirmation")
        await screenshot(page, "clinician-treatment-plan")
        await page.get_by_role("button", name="Cancel").click()
        await expect(confirm).to_be_hidden()
        await expect(complete).to_be_focused()
        assert (await relationship(ending))["plan_status"] == "ending"
        await complete.click()
        await page.get_by_role("button", name="Yes").click()
        await expect(plan).to_have_text("Completed")
        await expect(page.get_by_role("button", name="Discharge…")).to_be_hidden()
        completed = await relationship(ending)
        assert (completed["plan_status"], completed["status"]) == ("completed", "ended")
        assert completed["ending_criteria"] == "Sleeping through most nights for a month"

        # Discharge, also after a confirmation.
        await page.goto(f"/clinician/client?id={leaving.id}")
        await expect(page.locator("#client-name")).to_have_text("Tom Vale")
        await page.get_by_role("button", name="Discharge…").click()
        await expect(confirm).to_contain_text("Discharge Tom Vale?")
        await page.get_by_role("button", name="Yes").click()
        await expect(page.locator("#plan-status")).to_have_text("Discharged.")
        await expect(page.locator("#readiness")).to_contain_text("No active care relationship")

        async def ended() -> bool:
            return (await relationship(leaving))["status"] == "ended"

        await eventually(ended)
        await report.check(page, "record after discharge")

        # Care can start again, from the record page.
        await page.get_by_role("button", name="Start care").click()
        await expect(page.locator("#plan-status")).to_have_text("Care started.")
        await expect(page.locator("#plan-status-text")).to_have_text("Active")
        listed = (await http.get("/v1/care-relationships", headers=clinician.headers)).json()
        assert sorted(r["status"] for r in listed if r["client_id"] == leaving.id) == [
            "active",
            "ended",
        ]
        assert problems == []

    assert report.blocking == [], "\n".join(report.blocking)
