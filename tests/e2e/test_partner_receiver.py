"""The embeddable partner sample (examples/partner_receiver) against the running system.

A partner app registered by an admin, granted access by a clinician, registers its endpoint
itself with v1a (Ed25519) signatures only and runs the sample receiver. The clinician books,
moves and cancels appointments. The network in front of the receiver loses each rescheduling
(an answer of 503 that the receiver never saw) until the cancellation after it has arrived:
the receiver sees the gap in the appointment's sequence, fetches the missing message from the
messages API and applies it first. The cancellation's success brings the failed rescheduling
forward (the endpoint recovered), and its late copy is then a duplicate. At the
end every event was received, verified and applied once, in each appointment's order.

The partner authenticates only as a SMART backend service: the admin registers its public
key (a JWKS) with the app, and the sample gets every token with a client assertion it signs.
On each appointment.scheduled it reads the client's Patient and that Appointment from the
FHIR API; at the end it searches the client's Appointments, a page of two at a time: every
appointment booked in the test, with the status it ended in. An assertion signed by a key
the app never registered gets no token.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.e2e.flows import create_admin, eventually, sign_up
from tests.e2e.system import RapportSystem, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))
from partner_receiver.receiver import AppliedMessage, PartnerReceiver  # noqa: E402
from partner_receiver.smart import (  # noqa: E402
    FhirError,
    PartnerKey,
    SmartBackendClient,
    TokenRequestRefused,
)

pytestmark = pytest.mark.e2e

APPOINTMENTS = 3
EVENT_TYPES = ["appointment.scheduled", "appointment.rescheduled", "appointment.cancelled"]
SMART_SCOPES = ["system/Patient.rs", "system/Appointment.rs", "webhooks:manage"]


class LossyNetwork:
    """Loses every copy of a rescheduling until the message after it (the cancellation) has
    reached the receiver, so the receiver always meets the gap before the late copy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.lost: set[str] = set()
        self.passed: list[str] = []
        self.highest_passed: dict[str, int] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        sent = json.loads(body)
        aggregate, sequence = sent.get("aggregate_id", ""), sent.get("sequence", 0)
        if (
            sent.get("type") == "appointment.rescheduled"
            and self.highest_passed.get(aggregate, 0) <= sequence
        ):
            self.lost.add(webhook_id)
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        self.highest_passed[aggregate] = max(self.highest_passed.get(aggregate, 0), sequence)
        self.passed.append(webhook_id)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, list[Any]]]:
    """A slot for the receiver behind the lossy network, on a real local port."""
    holder: list[Any] = []
    port = free_port()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await holder[0](scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}/hooks/rapport", holder
    server.should_exit = True
    await task


async def test_the_partner_sample_receives_everything_verified_and_in_order(
    rapport: RapportSystem, served: tuple[str, list[Any]]
) -> None:
    url, holder = served
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        admin = await create_admin(rapport, http)
        clinician = await sign_up(http, "clinician")
        client = await sign_up(http, "client")
        key = PartnerKey.generate()
        app = await http.post(
            "/v1/partner-apps",
            json={
                "name": "Sample EHR",
                "scopes": ["webhooks:manage", "fhir:read", "appointments:read"],
                "jwks": key.jwks(),
            },
            headers=admin.headers,
        )
        assert app.status_code == 201, app.text
        client_id = app.json()["client_id"]
        granted = await http.put(
            f"/v1/partner-apps/{client_id}/grants/me", headers=clinician.headers
        )
        assert granted.status_code == 204, granted.text

        smart = SmartBackendClient(
            rapport_url=rapport.gateway_url,
            client_id=client_id,
            key=key,
            scopes=SMART_SCOPES,
            page_size=2,
        )
        assert await smart.token_endpoint() == f"{rapport.gateway_url}/oauth/token"
        # An assertion signed by a key the app never registered (under the registered kid)
        # gets no token.
        impostor = SmartBackendClient(
            rapport_url=rapport.gateway_url,
            client_id=client_id,
            key=PartnerKey(kid=key.kid, private_key=PartnerKey.generate().private_key),
            scopes=SMART_SCOPES,
        )
        with pytest.raises(TokenRequestRefused) as refused:
            await impostor.access_token()
        assert (refused.value.status_code, refused.value.error) == (401, "invalid_client")
        assert "signature" in refused.value.description
        token = smart.access_token
        first_token = await token()
        rapport.must_never_log("a partner's access token", first_token)

        partner = {"Authorization": f"Bearer {first_token}"}
        endpoint = await http.post(
            "/v1/webhook-endpoints",
            json={"url": url, "event_types": EVENT_TYPES, "signature_schemes": ["v1a"]},
            headers=partner,
        )
        assert endpoint.status_code == 201, endpoint.text
        registered = endpoint.json()
        # What the partner read from the FHIR API on each appointment.scheduled: the Patient
        # and the Appointment it names, by appointment.
        pulled: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

        async def on_message(message: AppliedMessage) -> None:
            if message.type == "appointment.scheduled":
                pulled[message.data["appointment_id"]] = (
                    await smart.read("Patient", message.data["client_id"]),
                    await smart.read("Appointment", message.data["appointment_id"]),
                )

        receiver = PartnerReceiver(
            rapport_url=rapport.gateway_url,
            endpoint_id=registered["id"],
            token=token,
            public_keys=[registered["public_key"]],
            on_message=on_message,
        )
        network = LossyNetwork(receiver.app())
        holder.append(network)

        booked_ids: set[str] = set()

        async def book(offset_hours: int) -> str:
            starts = datetime.now(UTC) + timedelta(days=2, hours=offset_hours)

            async def booked() -> str | None:
                response = await http.post(
                    "/v1/appointments",
                    headers=clinician.headers,
                    json={
                        "client_id": client.id,
                        "starts_at": starts.isoformat(),
                        "ends_at": (starts + timedelta(minutes=50)).isoformat(),
                    },
                )
                if response.status_code == 422 and "unknown client" in response.text:
                    return None
                assert response.status_code == 201, response.text
                appointment_id: str = response.json()["id"]
                booked_ids.add(appointment_id)
                return appointment_id

            return await eventually(booked)

        # The grant reaches webhooks as an event of its own: book until a booking is heard.
        probes = 0

        async def grant_heard() -> bool:
            nonlocal probes
            probes += 1
            await book(100 + probes)
            await asyncio.sleep(1.0)
            return bool(receiver.applied)

        await eventually(grant_heard, timeout=60, interval=0.5)
        ours: set[str] = set()

        for n in range(APPOINTMENTS):
            appointment_id = await book(n * 2)
            ours.add(appointment_id)
            moved = datetime.now(UTC) + timedelta(days=3, hours=n * 2)
            rescheduled = await http.post(
                f"/v1/appointments/{appointment_id}/reschedule",
                headers=clinician.headers,
                json={
                    "starts_at": moved.isoformat(),
                    "ends_at": (moved + timedelta(minutes=50)).isoformat(),
                },
            )
            assert rescheduled.status_code == 200, rescheduled.text
            cancelled = await http.post(
                f"/v1/appointments/{appointment_id}/cancel", headers=clinician.headers
            )
            assert cancelled.status_code == 200, cancelled.text

        def applied_to_ours() -> dict[str, list[Any]]:
            by_aggregate: dict[str, list[Any]] = {}
            for message in receiver.applied:
                if message.data["appointment_id"] in ours:
                    by_aggregate.setdefault(message.aggregate_id, []).append(message)
            return by_aggregate

        async def all_applied_and_late_copies_in() -> bool:
            complete = [m for m in applied_to_ours().values() if len(m) == 3]
            late_copies_in = all(lost in network.passed for lost in network.lost)
            return (
                len(complete) == APPOINTMENTS
                and len(network.lost) >= APPOINTMENTS
                and (late_copies_in)
            )

        await eventually(all_applied_and_late_copies_in, timeout=90, interval=0.5)
        final = await smart.client_resources(client.id)
        with pytest.raises(FhirError) as unknown:
            await smart.read("Patient", str(uuid.uuid4()))

    applied = applied_to_ours()
    assert len(applied) == APPOINTMENTS
    for messages in applied.values():
        assert [m.sequence for m in messages] == [1, 2, 3]
        assert [m.type for m in messages] == [
            "appointment.scheduled",
            "appointment.rescheduled",
            "appointment.cancelled",
        ]
        # The lost rescheduling was fetched to fill the gap, the others came as webhooks.
        assert [m.via for m in messages] == ["webhook", "fetched", "webhook"]
    # Each message applied once although the lost ones were delivered again later, and
    # nothing failed verification (the receiver answers 401 to a bad signature, which the
    # service would retry: every copy that passed the network was accepted at once).
    webhook_ids = [m.webhook_id for m in receiver.applied]
    assert len(webhook_ids) == len(set(webhook_ids))
    assert receiver.gaps_filled >= APPOINTMENTS

    # The FHIR pull, with the backend-services token: on each booking of ours, the client and
    # that appointment (already moved or cancelled, maybe: the clinician does not wait); at
    # the end, every appointment booked in the test (more than a page of two: the next links
    # were followed), each once, in the state it ended in.
    patient = f"Patient/{client.id}"
    for appointment_id in ours:
        read_patient, read_appointment = pulled[appointment_id]
        assert (read_patient["resourceType"], read_patient["id"]) == ("Patient", client.id)
        assert (read_appointment["resourceType"], read_appointment["id"]) == (
            "Appointment",
            appointment_id,
        )
        assert read_appointment["status"] in ("booked", "cancelled")
        assert patient in [p["actor"].get("reference") for p in read_appointment["participant"]]
    assert final.patient["id"] == client.id
    assert len(booked_ids) > 2
    assert sorted(a["id"] for a in final.appointments) == sorted(booked_ids)
    assert {a["id"]: a["status"] for a in final.appointments} == {
        appointment_id: "cancelled" if appointment_id in ours else "booked"
        for appointment_id in booked_ids
    }
    for appointment in final.appointments:
        assert appointment["resourceType"] == "Appointment"
        actors = [p["actor"].get("reference") for p in appointment["participant"]]
        assert patient in actors
    # A refusal comes as an OperationOutcome: an unknown patient, said plainly.
    assert unknown.value.status_code == 404
    assert "is not known here" in unknown.value.diagnostics
    # The token is kept until shortly before it expires, not asked for on each request.
    assert await token() == first_token
