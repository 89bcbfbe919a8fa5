"""Telehealth consent in real browsers (Chromium), against every Rapport process.

The clinic publishes a consent document; a client who has not signed it opens their session,
is stopped before the waiting room with the document in front of them, signs it, and goes on
to the waiting room, where the clinician admits them. The clinician's client list shows the
consent before and after, and after the client withdraws it from their page (and so does
the client's record). Neither the document's text nor the typed name reaches a log.

This module starts a system of its own: a published consent holds every client of the clinic,
and the package's system serves the other tests' clients, who never signed one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from playwright.async_api import expect

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
    watch_for_problems,
)
from tests.e2e.flows import create_admin, signal_url
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

CONSENT_REQUIRED = 4451


@pytest.fixture(scope="module")
def clinic(kafka_bootstrap: str, postgres_server, tmp_path_factory) -> Iterator[RapportSystem]:  # type: ignore[no-untyped-def]
    """The whole system (one signaling process), for this module alone."""
    log_dir: Path = tmp_path_factory.mktemp("consent-logs")
    system = RapportSystem(
        kafka_bootstrap=kafka_bootstrap,
        postgres=postgres_server,
        log_dir=log_dir,
        overrides={"RAPPORT_SIGNALING_CONSENT_REQUIRED": "true"},
    )
    try:
        system.start()
        yield system
    finally:
        system.stop()
    leaks = system.leaks()
    assert not leaks, "secrets in the processes' logs:\n" + "\n".join(leaks)


async def join_refused_for_consent(
    rapport: RapportSystem, http: httpx.AsyncClient, client: Person, session_id: str
) -> bool:
    """Whether signaling now holds ``client``'s join for consent (it has heard of the
    document); a join let in meanwhile leaves at once."""
    token = await http.post(
        "/v1/signaling-tokens", headers=client.headers, json={"session_id": session_id}
    )
    assert token.status_code in (200, 201), token.text
    async with websockets.connect(
        signal_url(rapport, session_id), subprotocols=[websockets.Subprotocol("rapport.signal.v1")]
    ) as socket:
        await socket.send(f'{{"type": "join", "token": "{token.json()["token"]}"}}')
        try:
            await socket.recv()
        except websockets.ConnectionClosed as closed:
            return closed.rcvd is not None and closed.rcvd.code == CONSENT_REQUIRED
        await socket.send('{"type": "leave"}')
        return False


async def test_a_client_is_stopped_before_the_waiting_room_signs_and_is_admitted(
    clinic: RapportSystem,
) -> None:
    rapport = clinic
    text = f"CONSENT-TEXT-{uuid.uuid4().hex[:12]}: video sessions, privacy, emergencies."
    rapport.must_never_log("consent text", text)
    rapport.must_never_log("typed name", "Quillfeather")
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        admin = await create_admin(rapport, http)
        clinician = await register(http, "clinician", "Dr. Rae Okafor")
        client = await register(http, "client", "Lee Marsh", invited_by=clinician)
        await start_care(http, clinician, client)
        session_id = await book_now(http, clinician, client)
        # Another clinician's client, whose session shows when signaling has heard of the
        # document (the client under test must not enter a waiting room before the browser).
        other = await register(http, "clinician", "Dr. Sam Ito")
        probe = await register(http, "client", "Pat Probe", invited_by=other)
        await start_care(http, other, probe)
        probe_session = await book_now(http, other, probe)
        published = await http.post(
            "/v1/consent/documents",
            headers=admin.headers,
            json={"title": "Consent to telehealth", "text": text, "version": 1},
        )
        assert published.status_code == 201, published.text
        await eventually(lambda: join_refused_for_consent(rapport, http, probe, probe_session))

        async with chromium() as browser:
            dashboard = await (await new_context(browser, rapport.gateway_url)).new_page()
            page = await (await new_context(browser, rapport.gateway_url)).new_page()
            problems: list[str] = []
            for each in (dashboard, page):
                watch_for_problems(each, problems)
            await sign_in(dashboard, clinician)
            badge = dashboard.locator(f"#clients li[data-client-id='{client.id}'] .consent-status")
            await expect(badge).to_have_text("Consent not signed")
            await sign_in(page, client, f"/join?session_id={session_id}")
            await expect(page.locator("#title")).to_contain_text("Your session with")

            # Stopped before the waiting room, with the document to read.
            await page.get_by_role("button", name="Join the waiting room").click()
            await expect(page.locator("#consent")).to_be_visible(timeout=30_000)
            await expect(page.locator("#consent-text")).to_contain_text(text)
            await expect(page.locator("#waiting")).to_be_hidden()
            waiting = dashboard.locator(f"#waiting-list li[data-user-id='{client.id}']")
            await expect(waiting).to_have_count(0)
            await screenshot(page, "join-consent")

            # A name that is no name is refused with the API's reason; then the client signs.
            await page.get_by_label("I have read this and I agree to it").check()
            await page.get_by_label("Type your full name to sign").fill("x1")
            await page.get_by_role("button", name="Sign and join").click()
            await expect(page.locator("#consent-status")).to_contain_text("name")
            await page.get_by_label("Type your full name to sign").fill("Lee Quillfeather Marsh")
            await page.get_by_role("button", name="Sign and join").click()

            await expect(page.locator("#waiting")).to_be_visible(timeout=60_000)
            await expect(page.locator("#consent")).to_be_hidden()
            await expect(waiting).to_contain_text("Lee Marsh", timeout=60_000)
            await waiting.get_by_role("button", name="Admit Lee Marsh").click()
            await expect(page.locator("#call")).to_be_visible(timeout=30_000)
            await expect(dashboard.locator("#call")).to_be_visible()
            assert problems == []

            status = await http.get(f"/v1/clients/{client.id}/consent", headers=clinician.headers)
            assert status.json()["state"] == "signed", status.text
            assert status.json()["latest"]["typed_name"] == "Lee Quillfeather Marsh"
            await dashboard.reload()
            await expect(badge).to_have_text("Consent signed")

            # The client withdraws from their page: the signature stays, the clinician sees it.
            await page.goto("/client")
            await expect(page.locator("#consent-summary")).to_contain_text("You signed version 1")
            await page.get_by_role("button", name="Withdraw my consent").click()
            await expect(page.locator("#consent-summary")).to_contain_text("You withdrew")
            await dashboard.reload()
            await expect(badge).to_have_text("Consent withdrawn")
            await dashboard.goto(f"/clinician/client?id={client.id}")
            await expect(dashboard.locator("#client-consent")).to_have_text("Consent withdrawn")
            assert problems == []
    # The processes' logs are scanned for the text and the typed name when the system stops.
