"""What a signaling process tells operators about the rooms it holds."""

from __future__ import annotations

import uuid

import httpx

from tests.unit.signaling.conftest import RunningSignaling


async def test_ops_rooms_and_metrics_show_the_rooms_this_process_holds(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    base = signaling.url.replace("ws://", "http://").removesuffix("/v1/signal")
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.get("/ops/rooms")).json() == {"rooms": []}

        await signaling.join(clinician_id, "clinician", session_id)
        await signaling.join(client_id, "client", session_id)

        held = (await http.get("/ops/rooms")).json()
        assert held == {"rooms": [{"session_id": str(session_id), "participants": 2}]}
        metrics = (await http.get("/metrics")).text
    assert "rapport_signaling_rooms 1.0" in metrics
    assert "rapport_signaling_participants 2.0" in metrics
