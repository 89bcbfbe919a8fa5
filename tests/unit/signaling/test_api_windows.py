"""Over a real socket: the join window around the appointment, and idle connections."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from services.signaling.schemas import CloseCode
from tests.unit.signaling.conftest import RunningSignaling, StartSignaling


async def _join_closes_with(signaling: RunningSignaling, starts_at: datetime) -> int | None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id, starts_at=starts_at)
    peer = await signaling.connect()
    token = signaling.issuer.signaling(client_id, "client", session_id)
    await peer.send({"type": "join", "token": token})
    return await peer.closed_with()


async def test_joins_before_the_window_opens_are_told_to_come_back_later(
    signaling: RunningSignaling,
) -> None:
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    assert await _join_closes_with(signaling, in_an_hour) == CloseCode.TOO_EARLY


async def test_joins_after_the_window_closed_are_refused(signaling: RunningSignaling) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    assert await _join_closes_with(signaling, yesterday) == CloseCode.TOO_LATE


async def test_the_window_opens_before_the_start(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(join_opens_minutes_before=90)
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    in_an_hour = datetime.now(UTC) + timedelta(hours=1)
    session_id = await signaling.schedule(clinician_id, client_id, starts_at=in_an_hour)
    _, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting"


async def test_a_silent_connection_is_closed_as_idle(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(idle_timeout_seconds=0.5)
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    chatty, joined = await signaling.join(clinician_id, "clinician", session_id)
    assert [w["user_id"] for w in joined["waiting"]] == [str(client_id)]
    await client.expect("clinician-status")
    # The clinician keeps pinging; the client says nothing and is closed.

    async def keep_talking() -> None:
        while True:
            await chatty.send({"type": "ping"})
            await asyncio.sleep(0.1)

    talking = asyncio.create_task(keep_talking())
    try:
        assert await client.closed_with() == CloseCode.IDLE
        # The waiting client's departure reaches the clinician, who stays connected.
        heard = [(await chatty.receive())["type"] for _ in range(3)]
        while heard[-1] != "waiting-room":
            heard.append((await chatty.receive())["type"])
        assert set(heard) == {"pong", "waiting-room"}
    finally:
        talking.cancel()
    await chatty.send({"type": "ping"})
    await chatty.expect("pong")
