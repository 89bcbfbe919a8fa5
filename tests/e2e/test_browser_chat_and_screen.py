"""Chat and screen sharing in real browsers (Chromium), against every Rapport process.

A clinician on the dashboard tells the waiting client they are running late, the client answers
from the waiting room, and the two go on writing once in the call; no word of it reaches an
event or a log. In a call, the client shares a screen (Chromium's fake capture), the clinician's
page decodes it as a second video, the share stops, and the clinician shares one back.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from playwright.async_api import Browser, Page, expect

from tests.e2e.browser import (
    Person,
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


@dataclass
class Session:
    http: httpx.AsyncClient
    clinician: Person
    client: Person
    session_id: str
    dashboard: Page
    mobile: Page
    problems: list[str]


@asynccontextmanager
async def waiting_client(rapport: RapportSystem, browser: Browser) -> AsyncIterator[Session]:
    """A session booked now: the clinician on the dashboard, the client in the waiting room."""
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await register(http, "clinician", "Dr. Rae Okafor")
        client = await register(http, "client", "Lee Marsh", invited_by=clinician)
        await start_care(http, clinician, client)
        session_id = await book_now(http, clinician, client)
        dashboard = await (await new_context(browser, rapport.gateway_url)).new_page()
        mobile = await (await new_context(browser, rapport.gateway_url, phone=True)).new_page()
        problems: list[str] = []
        for page in (dashboard, mobile):
            watch_for_problems(page, problems)
        await sign_in(dashboard, clinician)
        await sign_in(mobile, client, f"/join?session_id={session_id}")
        await expect(mobile.locator("#title")).to_contain_text("Your session with")
        await mobile.get_by_role("button", name="Join the waiting room").click()
        await expect(mobile.locator("#waiting")).to_be_visible(timeout=60_000)
        waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
        await expect(waiting).to_contain_text("Lee Marsh", timeout=60_000)
        yield Session(http, clinician, client, session_id, dashboard, mobile, problems)


async def admit(session: Session) -> None:
    waiting = session.dashboard.locator(f"#waiting-list li[data-user-id='{session.client.id}']")
    await waiting.get_by_role("button", name="Admit Lee Marsh").click()
    await expect(session.mobile.locator("#call")).to_be_visible()
    await expect(session.dashboard.locator("#call")).to_be_visible()
    await video_decodes(session.dashboard, session.mobile)


async def send(page: Page, chat: str, text: str) -> None:
    await page.locator(f"{chat} textarea").fill(text)
    await page.locator(chat).get_by_role("button", name="Send").click()


async def signaling_events(rapport: RapportSystem) -> list[bytes]:
    """Every event signaling has published so far (its topic read from the start)."""
    consumer = AIOKafkaConsumer(
        "rapport.signaling",
        bootstrap_servers=rapport.kafka_bootstrap,
        group_id=f"e2e-chat-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found: list[bytes] = []
        while batch := await consumer.getmany(timeout_ms=2000):
            for records in batch.values():
                # One record as a whole: its key, its headers (the type) and its value.
                found += [
                    b"\n".join([r.key or b"", *(v for _, v in r.headers), r.value or b""])
                    for r in records
                ]
        return found
    finally:
        await consumer.stop()


async def test_a_chat_reaches_the_waiting_client_and_flows_in_the_call(
    rapport: RapportSystem,
) -> None:
    marker = f"chat-{uuid.uuid4().hex[:12]}"
    rapport.must_never_log("chat text", marker)
    async with chromium() as browser, waiting_client(rapport, browser) as session:
        dashboard, mobile = session.dashboard, session.mobile

        # The clinician writes to everyone waiting; the client reads it and answers.
        await expect(dashboard.locator("#waiting-chat-to")).to_have_value("waiting")
        await send(dashboard, "#waiting-chat", f"Running five minutes late {marker}")
        line = mobile.locator("#chat .chat-log li").last
        await expect(line).to_contain_text(f"Running five minutes late {marker}")
        await expect(line).to_contain_text("Dr. Rae Okafor")
        await expect(line).to_contain_text("to everyone waiting")
        await send(mobile, "#chat", f"No problem, I am here {marker}")
        reply = dashboard.locator("#waiting-chat .chat-log li").last
        await expect(reply).to_contain_text(f"No problem, I am here {marker}")
        await expect(reply).to_contain_text("Lee Marsh")
        await expect(mobile.locator("#chat .chat-log li")).to_have_count(2)
        await mobile.locator("#chat").scroll_into_view_if_needed()
        await screenshot(mobile, "phone-waiting-room-chat")

        # In the call the conversation goes on, both ways.
        await admit(session)
        await send(mobile, "#chat", f"Can you hear me? {marker}")
        heard = dashboard.locator("#call-chat .chat-log li").last
        await expect(heard).to_contain_text(f"Can you hear me? {marker}")
        await send(dashboard, "#call-chat", f"Yes, clearly {marker}")
        await expect(mobile.locator("#chat .chat-log li").last).to_contain_text(
            f"Yes, clearly {marker}"
        )
        await expect(mobile.locator("#chat .chat-log li")).to_have_count(4)
        await expect(dashboard.locator("#call-chat .chat-log li")).to_have_count(2)

        await dashboard.get_by_role("button", name="End session").click()
        await expect(mobile.locator("#check-in")).to_be_visible(timeout=15_000)
        assert session.problems == []

    async def session_ended_published() -> list[bytes]:
        events = await signaling_events(rapport)
        ended = any(session.session_id.encode() in e and b"session.ended" in e for e in events)
        return events if ended else []

    # Everything signaling published about the call, to its end: no word of the chat.
    events = await eventually(session_ended_published)
    assert not [e for e in events if marker.encode() in e]
    # The processes' logs are scanned for the marker when the system stops (conftest.py).


async def screen_decoded(page: Page) -> dict[str, int]:
    """The shared-screen video's size and the frames decoded of its track (from getStats)."""
    return dict(
        await page.evaluate(
            """async () => {
                const video = document.querySelector("#shared-screen");
                const track = video?.srcObject?.getVideoTracks()[0];
                let frames = 0;
                if (track && window.rapportCall) {
                    (await window.rapportCall.pc.getStats()).forEach((s) => {
                        if (s.type === "inbound-rtp" && s.trackIdentifier === track.id) {
                            frames += s.framesDecoded || 0;
                        }
                    });
                }
                return {
                    width: video && !video.hidden ? video.videoWidth : 0,
                    frames,
                };
            }"""
        )
    )


async def test_a_shared_screen_reaches_the_other_side_and_stops(rapport: RapportSystem) -> None:
    async with chromium() as browser, waiting_client(rapport, browser) as session:
        dashboard, mobile = session.dashboard, session.mobile
        await admit(session)

        # The client (the polite side) shares; the clinician's page decodes a second video.
        await expect(dashboard.locator("#shared-screen")).to_be_hidden()
        await mobile.get_by_role("button", name="Share screen").click()
        await expect(mobile.get_by_role("button", name="Stop sharing")).to_have_attribute(
            "aria-pressed", "true"
        )
        await expect(dashboard.locator("#shared-screen")).to_be_visible(timeout=20_000)

        async def decoded_at_the_clinician() -> bool:
            seen = await screen_decoded(dashboard)
            return seen["width"] > 0 and seen["frames"] > 0

        await eventually(decoded_at_the_clinician, timeout=30)
        await screenshot(dashboard, "clinician-shared-screen")
        # The camera still plays beside it.
        cameras = await dashboard.evaluate(
            "() => document.querySelector('#remote-video').srcObject.getVideoTracks().length"
        )
        assert cameras == 1

        # Stopping takes the second video away on the far side.
        await mobile.get_by_role("button", name="Stop sharing").click()
        await expect(dashboard.locator("#shared-screen")).to_be_hidden(timeout=20_000)
        await expect(mobile.get_by_role("button", name="Share screen")).to_be_visible()

        # The clinician (the impolite side) shares; the client's page decodes it.
        await dashboard.get_by_role("button", name="Share screen").click()
        await expect(mobile.locator("#shared-screen")).to_be_visible(timeout=20_000)

        async def decoded_at_the_client() -> bool:
            seen = await screen_decoded(mobile)
            return seen["width"] > 0 and seen["frames"] > 0

        await eventually(decoded_at_the_client, timeout=30)
        await video_decodes(dashboard, mobile)
        assert session.problems == []
