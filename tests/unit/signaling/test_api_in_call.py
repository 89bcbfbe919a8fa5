"""Over a real socket: in-call goal updates and connection stats."""

from __future__ import annotations

import uuid

from shared.events.catalog import CallQuality, GoalProgressShared
from tests.unit.signaling.conftest import Peer, RunningSignaling, StartSignaling, short_types

InCall = tuple[uuid.UUID, Peer, uuid.UUID, Peer, uuid.UUID]


async def _in_call(signaling: RunningSignaling) -> InCall:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    return clinician_id, clinician, client_id, client, session_id


async def test_a_goal_update_reaches_the_client_at_once_and_is_recorded(
    signaling: RunningSignaling,
) -> None:
    clinician_id, clinician, client_id, client, session_id = await _in_call(signaling)
    goal_id = uuid.uuid4()
    await clinician.send({"type": "goal-update", "goal_id": str(goal_id), "progress": 7})
    seen = await client.expect("goal-updated")
    assert seen["goal_id"] == str(goal_id) and seen["progress"] == 7
    assert seen["from"] == str(clinician_id)
    assert (await clinician.expect("goal-updated"))["goal_update_id"] == seen["goal_update_id"]

    [shared] = [
        e.payload
        for e in await signaling.events(session_id)
        if isinstance(e.payload, GoalProgressShared)
    ]
    assert str(shared.goal_update_id) == seen["goal_update_id"]
    assert (shared.goal_id, shared.session_id, shared.progress) == (goal_id, session_id, 7)
    assert (shared.clinician_id, shared.client_id) == (clinician_id, client_id)

    # Only the clinician pushes goal updates, and only progress 0..10.
    await client.send({"type": "goal-update", "goal_id": str(goal_id), "progress": 3})
    assert (await client.expect("error"))["code"] == "forbidden"
    await clinician.send({"type": "goal-update", "goal_id": str(goal_id), "progress": 11})
    assert (await clinician.expect("error"))["code"] == "invalid-message"


async def test_stats_become_quality_samples_once_per_interval(
    start_signaling: StartSignaling,
) -> None:
    signaling = await start_signaling(quality_sample_interval_seconds=3600)
    _, clinician, client_id, client, session_id = await _in_call(signaling)
    stats = {
        "type": "stats",
        "round_trip_ms": 42.5,
        "packet_loss": 0.01,
        "jitter_ms": 3.2,
        "bitrate_kbps": 850,
        "video_frames_decoded": 1234,
    }
    await client.send(stats)
    await client.send(stats | {"round_trip_ms": 99})  # within the interval: not kept
    await clinician.send({"type": "stats", "round_trip_ms": 40})
    await client.send({"type": "ping"})
    await client.expect("pong")  # stats are not answered
    await clinician.send({"type": "ping"})
    await clinician.expect("pong")

    samples = [
        e.payload for e in await signaling.events(session_id) if isinstance(e.payload, CallQuality)
    ]
    assert len(samples) == 2
    [sample] = [s for s in samples if s.user_id == client_id]
    assert sample.role == "client"
    assert (sample.round_trip_ms, sample.packet_loss, sample.jitter_ms, sample.bitrate_kbps) == (
        42.5,
        0.01,
        3.2,
        850,
    )
    # What video arrived, for billing: the client's count, and nothing from a client that
    # did not say.
    assert sample.video_frames_decoded == 1234
    [clinicians] = [s for s in samples if s.user_id != client_id]
    assert clinicians.video_frames_decoded is None
    assert "call.quality" in short_types(await signaling.events(session_id))


async def test_waiting_clients_send_no_stats(signaling: RunningSignaling) -> None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await client.send({"type": "stats", "round_trip_ms": 1})
    assert (await client.expect("error"))["code"] == "not-admitted"
    await client.send({"type": "stats", "packet_loss": 2})
    assert (await client.expect("error"))["code"] == "invalid-message"
    await client.send({"type": "stats", "video_frames_decoded": -1})
    assert (await client.expect("error"))["code"] == "invalid-message"
