"""A call starts every time: admit, send back and admit everyone, over and over.

Each cycle is a new peer connection on both sides, started by signaling's ``joined`` and
``peer-joined``; each must reach ``connected`` with video decoded. Between two Chromium pages,
and between a Chromium page and an aiortc peer on either side (the clinician or the client).

The pages' messages arrive through a small random delay here (an init script holds each
incoming signaling message back by up to 0.4 s, in order), as on a loaded machine or a slow
network: without it, the orderings that once left a call without an offer or a candidate
showed up only now and then.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.e2e.browser import (
    Person,
    book_now,
    chromium,
    eventually,
    new_context,
    register,
    sign_in,
    start_care,
    watch_for_problems,
)
from tests.e2e.flows import check_in, signal_url
from tests.e2e.peers import Participant
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

BROWSER_CYCLES = 20
AIORTC_CYCLES = 15
# Bounded only against a hang: a call that starts at all starts within a second or two here.
STARTED_WITHIN = 30.0

# Holds each incoming signaling message back by 0 to 0.4 s, keeping their order.
LATE_MESSAGES = """
(() => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const listeners = [];
      let last = Promise.resolve();
      super.addEventListener("message", (event) => {
        const delay = Math.random() < 0.5 ? 0 : Math.random() * 400;
        last = last
          .then(() => new Promise((resolve) => setTimeout(resolve, delay)))
          .then(() => {
            const late = new MessageEvent("message", { data: event.data });
            for (const listener of listeners) listener(late);
          });
      });
      const native = super.addEventListener.bind(this);
      this.addEventListener = (type, listener, options) =>
        type === "message" ? listeners.push(listener) : native(type, listener, options);
    }
  };
})();
"""

CALL_STATE = """async () => {
    const pc = window.rapportCall?.pc;
    if (!pc) return null;
    let frames = 0;
    (await pc.getStats()).forEach((s) => {
        if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
    return {
        state: `${pc.signalingState}/${pc.iceConnectionState}/${pc.connectionState}`,
        connected: pc.connectionState === "connected",
        frames,
    };
}"""


async def call_state(page: Page) -> dict[str, Any] | None:
    state: dict[str, Any] | None = await page.evaluate(CALL_STATE)
    return state


async def call_started(cycle: int, pages: list[Page], peers: Sequence[Participant] = ()) -> None:
    """Every page's current call is connected with video decoded, and every aiortc peer
    receives video again."""
    frames_before = {id(peer): peer.frames_received for peer in peers}

    async def started() -> bool:
        states = [await call_state(page) for page in pages]
        return all(s is not None and s["connected"] and s["frames"] > 0 for s in states) and all(
            peer.frames_received > frames_before[id(peer)] for peer in peers
        )

    try:
        await eventually(started, timeout=STARTED_WITHIN)
    except AssertionError as stalled:
        states = [await call_state(page) for page in pages]
        raise AssertionError(f"cycle {cycle}: the call did not start: {states}") from stalled


async def person_page(browser: Browser, base_url: str, *, phone: bool = False) -> Page:
    context = await new_context(browser, base_url, phone=phone)
    await context.add_init_script(LATE_MESSAGES)
    return await context.new_page()


def watched(*pages: Page) -> list[str]:
    """What goes wrong on ``pages``: uncaught errors, CSP refusals, and every warning (a
    failed offer, a refused relay, a negotiation error)."""
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "warning":
            problems.append(f"warning: {message.text}")

    for page in pages:
        watch_for_problems(page, problems)
        page.on("console", on_console)
    return problems


async def a_client_of(http: httpx.AsyncClient, name: str) -> tuple[Person, Person, str]:
    """A clinician, their client, and a session starting now."""
    clinician = await register(http, "clinician", f"Dr. {name}")
    client = await register(http, "client", name, invited_by=clinician)
    await start_care(http, clinician, client)
    return clinician, client, await book_now(http, clinician, client)


async def aiortc_peer(
    rapport: RapportSystem, http: httpx.AsyncClient, person: Person, session_id: str
) -> Participant:
    response = await http.post(
        "/v1/signaling-tokens", headers=person.headers, json={"session_id": session_id}
    )
    assert response.status_code in (200, 201), response.text
    return Participant(
        person.display_name, signal_url(rapport, session_id), response.json()["token"]
    )


async def admit(dashboard: Page, client: Person, *, everyone: bool) -> None:
    if everyone:
        await dashboard.get_by_role("button", name="Admit everyone").click()
    else:
        await dashboard.get_by_role("button", name=f"Admit {client.display_name}").click()


async def test_a_browser_call_starts_on_every_admit_send_back_and_admit_all(
    rapport: RapportSystem,
) -> None:
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician, client, session_id = await a_client_of(http, "Tom Vale")
        dashboard = await person_page(browser, rapport.gateway_url)
        mobile = await person_page(browser, rapport.gateway_url, phone=True)
        problems = watched(dashboard, mobile)

        await sign_in(dashboard, clinician)
        await sign_in(mobile, client, f"/join?session_id={session_id}")
        await mobile.get_by_role("button", name="Join the waiting room").click()
        waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
        for cycle in range(BROWSER_CYCLES):
            await expect(waiting).to_be_visible(timeout=60_000)
            await admit(dashboard, client, everyone=cycle % 2 == 1)
            await expect(mobile.locator("#call")).to_be_visible()
            await call_started(cycle, [dashboard, mobile])
            await dashboard.get_by_role("button", name="Send back to the waiting room").click()
            await expect(mobile.locator("#waiting")).to_be_visible()
            await expect(dashboard.locator("#call")).to_be_hidden()
        assert problems == []


async def test_a_browser_clinician_starts_every_call_with_an_aiortc_client(
    rapport: RapportSystem,
) -> None:
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician, client, session_id = await a_client_of(http, "Ida Berg")
        dashboard = await person_page(browser, rapport.gateway_url)
        problems = watched(dashboard)
        await sign_in(dashboard, clinician)
        peer = await aiortc_peer(rapport, http, client, session_id)
        try:
            assert (await check_in(peer, client.display_name))["type"] == "waiting"
            waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
            for cycle in range(AIORTC_CYCLES):
                await expect(waiting).to_be_visible(timeout=60_000)
                await admit(dashboard, client, everyone=cycle % 2 == 1)
                await peer.expect("joined")
                await call_started(cycle, [dashboard], [peer])
                await dashboard.get_by_role("button", name="Send back to the waiting room").click()
                await peer.expect("sent-back")
                await peer.new_peer_connection()
        finally:
            await peer.close()
        assert problems == []


async def test_a_browser_client_answers_every_call_of_an_aiortc_clinician(
    rapport: RapportSystem,
) -> None:
    async with (
        httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http,
        chromium() as browser,
    ):
        clinician, client, session_id = await a_client_of(http, "Noa Lind")
        mobile = await person_page(browser, rapport.gateway_url, phone=True)
        problems = watched(mobile)
        peer = await aiortc_peer(rapport, http, clinician, session_id)
        try:
            assert (await check_in(peer, clinician.display_name))["type"] == "joined"
            await sign_in(mobile, client, f"/join?session_id={session_id}")
            await mobile.get_by_role("button", name="Join the waiting room").click()
            for cycle in range(AIORTC_CYCLES):
                await waiting_for(peer, client.id)
                await peer.send(
                    {"type": "admit-all"} if cycle % 2 else {"type": "admit", "user_id": client.id}
                )
                await peer.expect("peer-joined")
                # The clinician offers audio and video, as the clinician's page does; an aiortc
                # peer does no perfect negotiation, so an offer of the page's own crossing this
                # one would break the call here.
                peer.pc.addTransceiver("audio", direction="recvonly")
                await peer.offer(to=client.id)
                await peer.expect("answer")
                await call_started(cycle, [mobile], [peer])
                await peer.send({"type": "send-back", "user_id": client.id})
                await peer.expect("peer-left")
                await expect(mobile.locator("#waiting")).to_be_visible()
                await peer.new_peer_connection()
        finally:
            await peer.close()
        assert problems == []


async def waiting_for(clinician: Participant, client_id: str) -> None:
    """The clinician's waiting room lists ``client_id``."""
    while True:
        room = await clinician.expect("waiting-room", timeout=60)
        if client_id in [w["user_id"] for w in room["waiting"]]:
            return
