"""How fast a recovered endpoint's backlog drains, against what the endpoint accepts.

The webhooks app runs in this process on PostgreSQL with its dispatcher and the production
retry schedule (5 s, 5 min, ...; 10 % jitter) and per-endpoint concurrency (4). The partner's
receiver runs in its own process (uvicorn), like a real partner on the same machine. It is
down first: every request gets ``503`` with ``Retry-After: 1``. Meanwhile ``--messages``
appointments are booked (``appointment.scheduled`` applied as the consumer applies it), each
tried and failed, most of them twice (the second retry is then 5 minutes away). After
``--outage`` seconds the receiver comes back and one more appointment is booked, as ongoing
traffic would: its success is the endpoint's first, and the whole backlog is brought forward.

Figures, in the same run:
- baseline: the rate the receiver accepts from a bare httpx client at the same concurrency;
- fresh:    the same number of new messages to a healthy endpoint through the dispatcher;
- catch-up: the backlog after the outage, from the first success to the last delivery.
- drain:    the time the backlog took, against the ≤ 5 min target for 100,000 (B6), and the
            time the bare client would take for as many at its rate.
Before the catch-up, 2,000 pending after a 40 s outage took 329 s (about 6/s).

``--messages`` sizes the backlog; ``--fresh`` the healthy-endpoint run (default: as many, at
most 2,000, so a 100,000 backlog does not also send 100,000 fresh messages first). The outage
lasts at least as long as booking the backlog takes. ``--book N`` books only N of the backlog
through the consumer's path and copies those pending deliveries in SQL (new ids, events and
aggregates; same endpoint, payload, status, attempts and next attempt) up to ``--messages``:
on a loaded 2-core machine booking 100,000 one by one, with the dispatcher trying each,
took longer than the drain itself (about 17/s).

    uv run python bench/bench_webhooks_catch_up.py [--messages 2000] [--fresh N] [--book N]
        [--outage 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _table  # noqa: E402
from services.webhooks.app import create_app  # noqa: E402
from services.webhooks.events import build_router  # noqa: E402
from services.webhooks.settings import WebhooksSettings  # noqa: E402
from shared.events.envelope import decode, encode  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from tests.support.tokens import TestTokenIssuer  # noqa: E402
from tests.unit.webhooks import factories  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "services" / "webhooks" / "migrations"
PER_ENDPOINT = 4

RECEIVER = textwrap.dedent(
    """
    import sys, time
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    state = {"up": True, "accepted": 0, "refused": 0, "first": None, "last": None}

    async def hook(request):
        await request.body()
        if not state["up"]:
            state["refused"] += 1
            return Response(status_code=503, headers={"retry-after": "1"})
        now = time.time()
        state["accepted"] += 1
        state["first"] = state["first"] or now
        state["last"] = now
        return Response(status_code=204)

    async def control(request):
        body = await request.json()
        if "up" in body:
            state["up"] = body["up"]
        if body.get("reset"):
            state.update(accepted=0, refused=0, first=None, last=None)
        return JSONResponse(state)

    app = Starlette(routes=[Route("/hooks", hook, methods=["POST"]),
                            Route("/control", control, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Receiver:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.url)

    async def control(self, **body: Any) -> dict[str, Any]:
        state: dict[str, Any] = (await self.http.post("/control", json=body)).json()
        return state

    async def wait_accepted(self, count: int) -> dict[str, Any]:
        while True:
            state = await self.control()
            if state["accepted"] >= count:
                return state
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def receiver_process() -> AsyncIterator[Receiver]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)], cwd=ROOT)  # noqa: ASYNC220
    receiver = Receiver(port)
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                await receiver.control()
                break
            await asyncio.sleep(0.05)
        yield receiver
    finally:
        await receiver.http.aclose()
        process.terminate()
        process.wait()


async def baseline(receiver: Receiver, count: int) -> float:
    """Bare httpx POSTs of a message-sized body, ``PER_ENDPOINT`` at a time."""
    await receiver.control(up=True, reset=True)
    body = encode(factories.appointment_scheduled(), source="/b").value
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    async with httpx.AsyncClient(base_url=receiver.url) as http:

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                await http.post("/hooks", content=body, headers={"webhook-id": "msg_x"})

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(PER_ENDPOINT)))
        return count / (time.perf_counter() - started)


async def book(app: Any, count: int) -> None:
    """``count`` appointments booked, applied as webhooks' consumer applies the events."""
    router = build_router()
    for start in range(0, count, 100):
        async with app.state.database.unit_of_work() as session:
            for _ in range(min(100, count - start)):
                record = encode(factories.appointment_scheduled(), source="/rapport/records")
                await router.dispatch(session, decode(record.key, record.value, record.headers))


async def copy_backlog(app: Any, count: int) -> None:
    """The pending deliveries copied in SQL until there are ``count`` (see ``--book``)."""
    from sqlalchemy import text

    async with app.state.database.unit_of_work() as session:
        pending = (
            await session.exec(text("SELECT count(*) FROM deliveries WHERE status = 'pending'"))  # type: ignore[call-overload]
        ).scalar_one()
        extra = count - pending
        if extra <= 0:
            return
        copied = text(
            """
            INSERT INTO deliveries (id, endpoint_id, event_id, event_type, payload, clinician_id,
                aggregate_id, sequence, status, attempt_count, attempts_before_replay,
                next_attempt_at, leased_until, created_at, last_attempt_at, delivered_at)
            SELECT 'msg_' || md5(d.id || ':' || g), d.endpoint_id, md5(d.event_id || ':' || g),
                d.event_type, d.payload, d.clinician_id, md5(d.aggregate_id || ':' || g),
                d.sequence, d.status, d.attempt_count, d.attempts_before_replay,
                d.next_attempt_at, NULL, d.created_at, d.last_attempt_at, NULL
            FROM (SELECT * FROM deliveries WHERE status = 'pending') AS d
            CROSS JOIN generate_series(1, :copies) AS g
            LIMIT :extra
            """
        )
        await session.exec(  # type: ignore[call-overload]
            copied, params={"copies": extra // pending + 1, "extra": extra}
        )


async def run(
    database_url: str,
    receiver: Receiver,
    count: int,
    fresh_count: int,
    outage: float,
    booked: int | None = None,
) -> tuple[float, float, float, float]:
    """(new messages to a healthy endpoint per second, the backlog after recovery per second,
    seconds from the first success after recovery to the backlog's last delivery, seconds the
    endpoint was down)."""
    issuer = TestTokenIssuer()
    settings = WebhooksSettings(
        environment="test",
        database_url=database_url,
        kafka_bootstrap="127.0.0.1:1",  # nothing listens: events are applied directly
        allow_private_urls=True,
        dispatcher_poll_seconds=1.0,
        max_concurrent_deliveries_per_endpoint=PER_ENDPOINT,
    )
    app = create_app(settings, key_source=issuer.key_source)
    auth = {"Authorization": f"Bearer {issuer.issue('bench-admin', 'admin')}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://webhooks", headers=auth
        ) as api,
    ):
        created = await api.post(
            "/v1/webhook-endpoints",
            json={"url": f"{receiver.url}/hooks", "event_types": ["appointment.*"]},
        )
        assert created.status_code == 201, created.text

        # A healthy endpoint: new messages through the dispatcher.
        await receiver.control(up=True, reset=True)
        await book(app, fresh_count)
        print("fresh messages booked", flush=True)
        fresh = await receiver.wait_accepted(fresh_count)
        fresh_rate = (fresh_count - 1) / (fresh["last"] - fresh["first"])

        # The outage, the backlog, the recovery.
        await receiver.control(up=False, reset=True)
        outage_started = time.time()
        await book(app, booked or count)
        if booked:
            await copy_backlog(app, count)
        print(f"backlog booked in {time.time() - outage_started:.1f} s", flush=True)
        await asyncio.sleep(max(0.0, outage - (time.time() - outage_started)))
        down = await receiver.control(up=True)
        recovered = time.time()
        await book(app, 1)
        caught_up = await receiver.wait_accepted(count + 1)
    drain = caught_up["last"] - caught_up["first"]
    print(f"messages: {count}, outage: {outage:g} s, per-endpoint concurrency: {PER_ENDPOINT}")
    print(f"attempts refused during the outage (503, Retry-After: 1): {down['refused']:,}")
    print(f"first success after recovery: {caught_up['first'] - recovered:6.2f} s")
    print(f"backlog drained in:           {drain:6.2f} s after the first success")
    print(f"fresh     new messages through the dispatcher : {fresh_rate:9,.0f} deliveries/s")
    print(f"catch-up  backlog after recovery              : {count / drain:9,.0f} deliveries/s")
    return fresh_rate, count / drain, drain, recovered - outage_started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--fresh", type=int, help="new messages to a healthy endpoint")
    parser.add_argument(
        "--book", type=int, help="book this many for real, copy the rest of the backlog in SQL"
    )
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.messages, args.outage, args.book = 20, 1.0, 10
    fresh_count = args.fresh or min(args.messages, 2000)
    with _table.postgres("bench_webhooks") as [url]:
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        async with receiver_process() as receiver:
            await baseline(receiver, min(200, args.messages))  # warm up
            # The receiver's rate settles within a few thousand requests.
            bare = await baseline(receiver, min(args.messages, 5000))
            print(f"baseline  bare httpx, {PER_ENDPOINT} at a time : {bare:9,.0f} requests/s")
            fresh, catch_up, drain, outage = await run(
                url, receiver, args.messages, fresh_count, args.outage, args.book
            )
    figures = [
        ("webhooks: new messages to a healthy endpoint", fresh, "", fresh_count),
        ("webhooks: backlog after recovery", catch_up, "≥ 500/s", args.messages),
    ]
    bare_name = f"bare httpx, {PER_ENDPOINT} at a time"
    _table.report(
        [
            _table.Figure(
                bench="webhooks_catch_up",
                name=name,
                value=value,
                unit="deliveries/s",
                samples=samples,
                target=target,
                baseline=bare,
                baseline_name=bare_name,
            )
            for name, value, target, samples in figures
        ]
        + [
            _table.Figure(
                bench="webhooks_catch_up",
                name=f"webhooks: {args.messages:,}-delivery backlog after a "
                f"{outage:.0f} s outage, drained in",
                value=drain,
                unit="s",
                samples=args.messages,
                target="≤ 300 s for 100,000",
                baseline=args.messages / bare,
                baseline_name=bare_name,
                higher_is_better=False,
            )
        ]
    )


if __name__ == "__main__":
    os.environ.setdefault("RAPPORT_LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory():
        asyncio.run(main())
