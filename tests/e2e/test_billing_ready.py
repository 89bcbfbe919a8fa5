"""A completed video session reaches a billing partner as ``session.billing_ready``, signed,
with the code its connected time earns and the place the client stated, and never the
client's stated location itself.

The billing table's minutes are settings: records runs here with minutes a short call can
reach (90832 from 1.2 s, 90834 from 3 s, 90837 from ten hours), so a call kept connected for
a few seconds earns 90834 by the same rules that give 45 minutes 90834 in production.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.e2e.flows import (
    admit,
    book,
    check_in,
    create_admin,
    eventually,
    frames_flow,
    join_as_clinician,
    participant,
    sign_up,
)
from tests.e2e.system import RapportSystem
from tests.e2e.test_video_session import WebhookReceiver, webhook_receiver  # noqa: F401

pytestmark = pytest.mark.e2e

MINUTES_FOR_A_SHORT_CALL = {
    "RAPPORT_RECORDS_BILLING_TIME_CODES": json.dumps({"90832": 0.02, "90834": 0.05, "90837": 600}),
}
# Long enough past 90834's three seconds that message latency cannot matter.
CONNECTED_FOR = 4.5
ADDRESS = "Apartment 9C, 310 Riverside Drive, buzzer broken"
CONTACT = {"name": "Jordan Riverside-Contact", "phone": "+1 212 555 0147", "relationship": "son"}


async def test_session_billing_ready_reaches_a_partner_verified_with_its_code(
    rapport: RapportSystem,
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    await asyncio.to_thread(rapport.restart, "records", **MINUTES_FOR_A_SHORT_CALL)
    for what, text in [
        ("the client's address", ADDRESS),
        ("the emergency contact's name", CONTACT["name"]),
        ("the emergency contact's phone", "+12125550147"),
    ]:
        rapport.must_never_log(what, text)
    endpoint_id = None
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        admin = await create_admin(rapport, http)
        try:
            clinician = await sign_up(http, "clinician")
            client = await sign_up(http, "client")
            endpoint = await http.post(
                "/v1/webhook-endpoints",
                headers=admin.headers,
                json={"url": webhook_receiver.url, "event_types": ["*"], "description": "billing"},
            )
            assert endpoint.status_code == 201, endpoint.text
            endpoint_id, secret = endpoint.json()["id"], endpoint.json()["secret"]
            session_id = (await book(http, clinician, client))["session_id"]

            licensed = await http.put(
                "/v1/clinicians/me/jurisdictions",
                headers=clinician.headers,
                json={"regions": ["US-NJ"]},
            )
            assert licensed.status_code == 200, licensed.text
            stated = await http.put(
                f"/v1/sessions/{session_id}/location",
                headers=client.headers,
                json={
                    "country": "US",
                    "region": "US-NY",
                    "at_home": True,
                    "address": ADDRESS,
                    "emergency_contact": CONTACT,
                },
            )
            assert stated.status_code == 200, stated.text
            seen = await http.get(f"/v1/sessions/{session_id}/location", headers=clinician.headers)
            assert seen.status_code == 200, seen.text
            assert seen.json()["address"] == ADDRESS
            assert seen.json()["jurisdiction_warning"] is True  # New York, licensed in NJ

            client_peer = await participant(rapport, http, client, session_id, "client")
            clinician_peer = await participant(rapport, http, clinician, session_id, "clinician")
            try:
                await check_in(client_peer, "Sam")
                await join_as_clinician(clinician_peer, client.id)
                await admit(clinician_peer, client_peer, client.id)
                await clinician_peer.offer()
                await clinician_peer.expect("answer")
                await frames_flow(clinician_peer, client_peer)
                for peer in (clinician_peer, client_peer):
                    await peer.send({"type": "connected"})
                    # What a page reports from getStats(): video frames it decoded.
                    await peer.send({"type": "stats", "video_frames_decoded": peer.frames_received})
                await asyncio.sleep(CONNECTED_FOR)  # a call that lasted its few seconds
                await clinician_peer.send({"type": "end"})
                assert (await client_peer.expect("__closed__"))["code"] == 4008
            finally:
                await client_peer.close()
                await clinician_peer.close()

            async def billing_webhook() -> tuple[dict[str, str], bytes] | None:
                for headers, body in webhook_receiver.requests:
                    sent = json.loads(body)
                    if (
                        sent["type"] == "session.billing_ready"
                        and sent["data"]["session_id"] == session_id
                    ):
                        return headers, body
                return None

            headers, body = await eventually(billing_webhook, timeout=60)
            payload: dict[str, Any] = Webhook(secret).verify(body, headers)  # the signature
            data = payload["data"]
            assert data["cpt_code"] == "90834", data
            assert data["connected_seconds"] >= 3
            assert data["place_of_service"] == "10"
            assert data["audio_only"] is False
            assert data["group"] is False
            assert {(a["user_id"], a["role"]) for a in data["attendees"]} == {
                (clinician.id, "clinician"),
                (client.id, "client"),
            }
            assert (data["clinician_id"], data["client_id"]) == (clinician.id, client.id)
            record = await http.get(f"/v1/sessions/{session_id}", headers=clinician.headers)
            assert record.status_code == 200, record.text
            assert record.json()["billing"]["cpt_code"] == "90834"

            # Every event a partner got about this session, billing included: none says where
            # the client was.
            about_session = [b for _, b in webhook_receiver.requests if session_id.encode() in b]
            assert len(about_session) >= 5
            for sent_body in about_session:
                for text in (ADDRESS, "Riverside", CONTACT["name"], "US-NY", "+1212"):
                    assert text.encode() not in sent_body, (text, sent_body[:200])
        finally:
            if endpoint_id is not None:
                await http.delete(f"/v1/webhook-endpoints/{endpoint_id}", headers=admin.headers)
            await asyncio.to_thread(rapport.restart, "records")
