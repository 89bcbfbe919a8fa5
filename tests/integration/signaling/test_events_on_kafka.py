"""A whole session against real Kafka and real PostgreSQL: signaling learns the appointment
from records' topic through its consumer group, and every event of the session reaches the
``rapport.signaling`` topic, keyed by the session id, in order."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import uvicorn
import websockets
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.signaling.app import create_app, server_config
from services.signaling.schemas import SUBPROTOCOL
from services.signaling.settings import SignalingSettings
from shared.events.catalog import (
    TOPIC_SIGNALING,
    AppointmentScheduled,
    CallQuality,
    GoalProgressShared,
    ParticipantLeft,
    SessionEnded,
)
from shared.events.envelope import Envelope, decode, encode
from shared.migrations import upgrade
from tests.support.tokens import TestTokenIssuer
from tests.unit.signaling.conftest import MIGRATIONS, Peer

pytestmark = pytest.mark.integration


@pytest.fixture
async def signaling_url(
    kafka_bootstrap: str, fresh_database: str, tmp_path: object
) -> AsyncIterator[tuple[str, TestTokenIssuer]]:
    issuer = TestTokenIssuer()
    settings = SignalingSettings(
        environment="test",
        database_url=fresh_database,
        kafka_bootstrap=kafka_bootstrap,
        host="127.0.0.1",
        port=0,
        resume_grace_seconds=0.5,
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.database_url)
    app = create_app(settings, key_source=issuer.key_source)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(server_config(app, settings))
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    async with asyncio.timeout(15):
        while not server.started:
            assert not serving.done()
            await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/v1/signal", issuer
    server.should_exit = True
    await serving


async def _publish_appointment(bootstrap: str, appointment: AppointmentScheduled) -> None:
    record = encode(appointment, source="/rapport/records")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            record.topic, record.value, key=record.key, headers=record.headers
        )
    finally:
        await producer.stop()


async def _join(url: str, token: str) -> tuple[Peer, dict[str, object]]:
    ws = await websockets.connect(
        url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        compression=None,
    )
    peer = Peer(ws)
    await peer.send({"type": "join", "token": token})
    return peer, await peer.receive(10)


async def _events_of(bootstrap: str, session_id: uuid.UUID, until: str) -> list[Envelope]:
    consumer = AIOKafkaConsumer(
        TOPIC_SIGNALING,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    events: list[Envelope] = []
    try:
        async with asyncio.timeout(60):
            while not any(e.type == until for e in events):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        if record.key != str(session_id).encode():
                            continue
                        headers = [(k, v) for k, v in record.headers]
                        events.append(decode(record.key, record.value, headers))
    finally:
        await consumer.stop()
    return events


async def test_a_sessions_events_reach_the_signaling_topic(
    signaling_url: tuple[str, TestTokenIssuer], kafka_bootstrap: str
) -> None:
    url, issuer = signaling_url
    clinician_id, client_id, session_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    starts = datetime.now(UTC)
    await _publish_appointment(
        kafka_bootstrap,
        AppointmentScheduled(
            appointment_id=uuid.uuid4(),
            session_id=session_id,
            clinician_id=clinician_id,
            client_id=client_id,
            starts_at=starts,
            ends_at=starts + timedelta(minutes=50),
        ),
    )

    # Signaling's consumer projects the appointment; until then joins close with 4004.
    async with asyncio.timeout(60):
        while True:
            try:
                client, first = await _join(url, issuer.signaling(client_id, "client", session_id))
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4004
                await asyncio.sleep(0.3)
                continue
            if first.get("type") == "waiting":
                break
            await asyncio.sleep(0.3)

    clinician, joined = await _join(url, issuer.signaling(clinician_id, "clinician", session_id))
    assert joined["type"] == "joined"
    await client.expect("clinician-status")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    await clinician.send({"type": "connected"})
    await clinician.send({"type": "ping"})
    await clinician.expect("pong")
    await client.send({"type": "connected"})
    await client.send({"type": "stats", "round_trip_ms": 35.0, "packet_loss": 0.0})
    await client.send({"type": "ping"})
    await client.expect("pong")  # messages of one connection are handled in order
    goal_id = uuid.uuid4()
    await clinician.send({"type": "goal-update", "goal_id": str(goal_id), "progress": 6})
    await client.expect("goal-updated")
    await clinician.expect("goal-updated")
    # The client's network drops and does not come back within the grace period.
    client.ws.transport.abort()
    await clinician.expect("peer-reconnecting")
    await clinician.expect("peer-left", within=10)
    await clinician.send({"type": "end"})
    assert (await clinician.expect("ended"))["reason"] == "ended"

    events = await _events_of(
        kafka_bootstrap, session_id, until="rapport.signaling.session.ended.v1"
    )
    types = [e.type.removeprefix("rapport.signaling.").removesuffix(".v1") for e in events]
    assert types == [
        "participant.checked_in",
        "participant.joined",
        "participant.admitted",
        "participant.joined",
        "session.started",
        "call.connected",
        "call.quality",
        "goal.progress_shared",
        "participant.left",
        "participant.left",
        "session.ended",
    ]
    assert all(e.source == "/rapport/signaling" for e in events)
    [quality] = [e.payload for e in events if isinstance(e.payload, CallQuality)]
    assert quality.user_id == client_id and quality.round_trip_ms == 35.0
    [goal] = [e.payload for e in events if isinstance(e.payload, GoalProgressShared)]
    assert (goal.goal_id, goal.progress, goal.client_id) == (goal_id, 6, client_id)
    left = [e.payload for e in events if isinstance(e.payload, ParticipantLeft)]
    assert [(p.user_id, p.reason) for p in left] == [
        (client_id, "dropped"),
        (clinician_id, "session-ended"),
    ]
    [ended] = [e.payload for e in events if isinstance(e.payload, SessionEnded)]
    assert ended.ended_by == clinician_id and ended.reason == "ended"
