"""Helpers for the real-browser tests: Debian's Chromium driven by Playwright, people set up
through the HTTP API, and the checks the pages are judged by (video decoded, axe-core)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-gpu",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# The pages put their live calls on `window` (rapportCall, rapportEcho) only for a test that
# asks by this sessionStorage key (web/public/js/test-hooks.js), set before any page script;
# a blank document before the first page has no storage to set it in.
TEST_HOOKS = """
if (location.protocol.startsWith("http")) sessionStorage.setItem("rapport.test-hooks", "on");
"""


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium with a fake camera and microphone (never `playwright install`)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def new_context(
    browser: Browser,
    base_url: str,
    *,
    phone: bool = False,
    inject_scripts: bool = False,
    timezone_id: str = "UTC",
) -> BrowserContext:
    """A person's browser, which asks the pages for their test hooks. ``inject_scripts``
    lets a test add axe-core to the pages, which their Content Security Policy (no inline
    scripts) would otherwise refuse."""
    context = await browser.new_context(
        bypass_csp=inject_scripts,
        base_url=base_url,
        viewport=PHONE if phone else DESKTOP,
        is_mobile=phone,
        has_touch=phone,
        timezone_id=timezone_id,
        locale="en-GB",
        permissions=["camera", "microphone", "clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(20_000)
    await context.add_init_script(TEST_HOOKS)
    return context


@dataclass
class Person:
    id: str
    email: str
    password: str
    display_name: str
    headers: dict[str, str]


async def eventually(
    probe: Callable[[], Awaitable[Any]], timeout: float = 30.0, interval: float = 0.25
) -> Any:
    """Poll ``probe`` until it returns something truthy (events take a moment to flow)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {probe}")
        await asyncio.sleep(interval)


async def register(
    http: httpx.AsyncClient, role: str, display_name: str, *, invited_by: Person | None = None
) -> Person:
    """A new account; a client ``invited_by`` a clinician joins through their invitation (so
    the clinician's directory knows the client's name)."""
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    password = f"browser {role} passphrase {uuid.uuid4().hex[:6]}"
    body: dict[str, Any] = {
        "email": email,
        "password": password,
        "display_name": display_name,
        "role": role,
    }
    if invited_by is not None:
        invitation = await http.post(
            "/v1/invitations", headers=invited_by.headers, json={"email": email}
        )
        assert invitation.status_code == 201, invitation.text
        body["invitation"] = invitation.json()["invitation"]
    registered = await http.post("/v1/auth/register", json=body)
    assert registered.status_code == 201, registered.text
    login = await http.post("/v1/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    body = login.json()
    return Person(
        id=body["user"]["id"],
        email=email,
        password=password,
        display_name=display_name,
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )


async def start_care(http: httpx.AsyncClient, clinician: Person, client: Person) -> None:
    """The care relationship (records learns about the client from identity's event)."""

    async def started() -> bool:
        response = await http.post(
            "/v1/care-relationships", headers=clinician.headers, json={"client_id": client.id}
        )
        if response.status_code == 422:
            return False
        assert response.status_code in (200, 201), response.text
        return True

    await eventually(started)


async def agreed_goal(
    http: httpx.AsyncClient, clinician: Person, client: Person, statement: str
) -> dict[str, Any]:
    proposed = await http.post(
        "/v1/goals",
        headers=clinician.headers,
        json={"client_id": client.id, "statement": statement},
    )
    assert proposed.status_code == 201, proposed.text
    goal_id = proposed.json()["id"]
    agreed = await http.post(f"/v1/goals/{goal_id}/agreement", headers=client.headers)
    assert agreed.status_code == 200, agreed.text
    return dict(agreed.json())


async def book_now(http: httpx.AsyncClient, clinician: Person, client: Person) -> str:
    """A 50-minute session starting now (booked through the API); its session id."""
    starts = datetime.now(UTC).replace(microsecond=0)
    response = await http.post(
        "/v1/appointments",
        headers=clinician.headers,
        json={
            "client_id": client.id,
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(minutes=50)).isoformat(),
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["session_id"])


def daytime_zone(now: datetime | None = None) -> str:
    """A fixed-offset time zone in which ``now`` is between 12:00 and 13:00 local time.

    Hours, slots and "today" set in it keep clear of a local midnight for the length of any
    test, whatever the time of day the suite runs at.
    """
    hours_east = 12 - (now or datetime.now(UTC)).astimezone(UTC).hour
    # POSIX-style names count the other way: Etc/GMT-3 is three hours east of UTC.
    return "UTC" if hours_east == 0 else f"Etc/GMT{-hours_east:+d}"


@dataclass
class HoursNow:
    """Weekly hours on today's weekday, in ``time_zone``, that start a bookable slot within
    the last five minutes, so a client can book a session that is open to join at once."""

    time_zone: str
    weekday: int
    start: str
    end: str
    slot_minutes: int


def hours_now(now: datetime | None = None) -> HoursNow:
    """Two hours from about ``now`` (default: the current time), in :func:`daytime_zone`."""
    now = now or datetime.now(UTC)
    zone = daytime_zone(now)
    local = now.astimezone(ZoneInfo(zone))
    start = (local.hour * 60 + local.minute) // 5 * 5
    end = start + 120  # at most 14:55 local: the hours never reach midnight
    return HoursNow(
        time_zone=zone,
        weekday=local.isoweekday(),
        start=f"{start // 60:02d}:{start % 60:02d}",
        end=f"{end // 60:02d}:{end % 60:02d}",
        slot_minutes=50,
    )


WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


async def set_hours_now_in_browser(page: Page) -> HoursNow:
    """The clinician (signed in on ``page``) sets :func:`hours_now` as their only weekly hours
    on the availability page, in its time zone, as a person would."""
    hours = hours_now()
    await page.goto("/clinician/availability")
    rows = page.locator("#hours .hours-row")
    await expect(rows.first).to_be_visible()
    while await rows.count():
        await rows.first.get_by_role("button", name="Remove").click()
    await page.get_by_role("button", name="Add hours").click()
    await page.get_by_label("Time zone").fill(hours.time_zone)
    row = rows.first
    await row.locator("select").select_option(WEEKDAY_NAMES[hours.weekday - 1])
    await row.locator("input[name=start]").fill(hours.start)
    await row.locator("input[name=end]").fill(hours.end)
    await page.get_by_label("Session length (minutes)").fill(str(hours.slot_minutes))
    await page.get_by_label("A slot starts every (minutes)").fill("60")
    await page.get_by_role("button", name="Save weekly hours").click()
    await expect(page.locator("#hours-status")).to_have_text("Weekly hours saved.")
    return hours


async def open_hours_now(http: httpx.AsyncClient, clinician: Person) -> None:
    """:func:`hours_now` set through the API (for tests about other screens)."""
    hours = hours_now()
    response = await http.put(
        "/v1/availability",
        headers=clinician.headers,
        json={
            "time_zone": hours.time_zone,
            "weekly_hours": [{"weekday": hours.weekday, "start": hours.start, "end": hours.end}],
            "slot_minutes": hours.slot_minutes,
            "step_minutes": 60,
        },
    )
    assert response.status_code == 200, response.text


async def sign_in(page: Page, person: Person, path: str = "/") -> None:
    """Sign in through the sign-in page (``path`` may redirect there first)."""
    await page.goto(path)
    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill(person.password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(lambda url: "/?" not in url and not url.endswith("/"))


async def frames_decoded(page: Page, *, echo: bool = False) -> int:
    """inbound-rtp video framesDecoded of the page's call (or its echo test call), from
    getStats()."""
    return int(
        await page.evaluate(
            """async (echo) => {
                const pc = echo ? window.rapportEcho : window.rapportCall?.pc;
                if (!pc) return 0;
                let frames = 0;
                (await pc.getStats()).forEach((s) => {
                    if (s.type === "inbound-rtp" && s.kind === "video") {
                        frames += s.framesDecoded || 0;
                    }
                });
                return frames;
            }""",
            echo,
        )
    )


async def video_decodes(*pages: Page, timeout: float = 45.0) -> None:
    """Wait until every page's call has decoded video; on timeout, say how each call stands."""

    async def everywhere() -> bool:
        return all([await frames_decoded(page) > 0 for page in pages])

    try:
        await eventually(everywhere, timeout=timeout)
    except AssertionError as timed_out:
        states = [
            await page.evaluate(
                """() => {
                    const pc = window.rapportCall?.pc;
                    return pc ? `${pc.signalingState}/${pc.iceConnectionState}/`
                        + `${pc.connectionState}, ${pc.getTransceivers().length} transceivers`
                        : "no call";
                }"""
            )
            for page in pages
        ]
        raise AssertionError(f"no video decoded in every page: {states}") from timed_out


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2 A/AA and best practices)."""
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        """async () => (await axe.run(document, {
            runOnly: {
                type: "tag",
                values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
            },
        })).violations.map((v) => ({
            id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5),
        }))"""
    )
    return list(result)


BLOCKING = {"serious", "critical"}


class AxeReport:
    """axe-core on screen after screen: prints every violation, keeps the blocking ones."""

    def __init__(self) -> None:
        self.blocking: list[str] = []
        self.screens: list[str] = []

    async def check(self, page: Page, screen: str) -> None:
        violations = await axe_violations(page)
        self.screens.append(screen)
        print(f"axe: {screen}: {len(violations)} violation(s)")
        for violation in violations:
            line = (
                f"{screen}: [{violation['impact']}] {violation['id']}: {violation['help']}"
                f" at {violation['nodes']}"
            )
            print(line)
            if violation["impact"] in BLOCKING:
                self.blocking.append(line)


def watch_for_problems(page: Page, problems: list[str]) -> None:
    """Collect the page's uncaught errors and Content Security Policy refusals (and print its
    warnings, for the log of a failed run)."""
    page.on(
        "console",
        lambda message: (
            message.type in ("warning", "error")
            and print(f"console {message.type}: {message.text}")
        ),
    )
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and problems.append(message.text),
    )
