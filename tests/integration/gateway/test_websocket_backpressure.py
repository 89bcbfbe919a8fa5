"""The WebSocket relay under a flood: a client that stops reading holds the flood back.

The stand-in signaling process sends 128 MiB as fast as the connection lets it to a client
(through a real gateway process) that reads nothing. Backpressure must reach the sender: it
stalls far short of 128 MiB, and the gateway's peak memory stays far below what was sent.
Then the client reads, and every message arrives, in order: nothing was dropped to get there.
The same the other way: a client flooding a signaling process that reads nothing.
"""

from __future__ import annotations

import asyncio

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.integration.gateway.conftest import MIB, Process

FLOOD_MIB = 128
MESSAGE_KIB = 64
GROWTH_LIMIT_KIB = 32 * 1024


async def _progress(http: httpx.AsyncClient) -> tuple[int, bool]:
    answer = (await http.get("/flood-progress")).json()
    return int(answer["sent"]), bool(answer["finished"])


async def _until_stalled(http: httpx.AsyncClient) -> int:
    """Bytes the flood got out once it stopped advancing (unchanged across a second)."""
    last, unchanged = -1, 0
    for _ in range(600):
        sent, finished = await _progress(http)
        if finished:
            return sent
        unchanged = unchanged + 1 if sent == last else 0
        if unchanged >= 10 and sent > 0:
            return sent
        last = sent
        await asyncio.sleep(0.1)
    raise AssertionError("the flood neither stalled nor finished")


async def test_a_client_that_does_not_read_holds_back_the_flood(
    gateway: Process, upstream: Process
) -> None:
    before = gateway.peak_rss_kib
    url = f"{gateway.url.replace('http', 'ws')}/v1/signal?mib={FLOOD_MIB}&kib={MESSAGE_KIB}"
    async with (
        httpx.AsyncClient(base_url=upstream.url, timeout=10) as http,
        connect(url, subprotocols=["rapport.signal.v1"], max_size=MIB, max_queue=4) as client,
    ):
        stalled_at = await _until_stalled(http)
        growth = gateway.peak_rss_kib - before
        print(
            f"\nflood stalled after {stalled_at // 1024} KiB of {FLOOD_MIB} MiB; "
            f"gateway peak RSS {before} KiB -> +{growth} KiB"
        )
        assert stalled_at < FLOOD_MIB * MIB // 4
        assert growth < GROWTH_LIMIT_KIB

        received = 0
        while True:
            message = await client.recv()
            if message == "done":
                break
            assert message == b"\x5a" * (MESSAGE_KIB * 1024)
            received += len(message)
        assert received == FLOOD_MIB * MIB
        assert await _progress(http) == (FLOOD_MIB * MIB, True)
        await client.send("thanks")


async def test_a_service_that_does_not_read_holds_back_a_flooding_client(
    gateway: Process, upstream: Process
) -> None:
    before = gateway.peak_rss_kib
    url = f"{gateway.url.replace('http', 'ws')}/v1/signal?mode=deaf"
    message = b"\xa5" * (MESSAGE_KIB * 1024)
    sent = 0

    async def flood(client: ClientConnection) -> None:
        nonlocal sent
        while sent < FLOOD_MIB * MIB:
            await client.send(message)
            sent += len(message)
        await client.send("done")

    async with (
        httpx.AsyncClient(base_url=upstream.url, timeout=10) as http,
        connect(url, subprotocols=["rapport.signal.v1"], max_size=MIB) as client,
    ):
        flooding = asyncio.create_task(flood(client))
        last, unchanged = -1, 0
        while unchanged < 10 and not flooding.done():
            unchanged = unchanged + 1 if sent == last else 0
            last = sent
            await asyncio.sleep(0.1)
        growth = gateway.peak_rss_kib - before
        print(
            f"\nclient flood stalled after {sent // 1024} KiB of {FLOOD_MIB} MiB; "
            f"gateway peak RSS {before} KiB -> +{growth} KiB"
        )
        assert not flooding.done()
        assert sent < FLOOD_MIB * MIB // 4
        assert growth < GROWTH_LIMIT_KIB

        await http.post("/deaf-listen")
        await asyncio.wait_for(flooding, timeout=120)
        assert await asyncio.wait_for(client.recv(), timeout=120) == f"received:{FLOOD_MIB * MIB}"
