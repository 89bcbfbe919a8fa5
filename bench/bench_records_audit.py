"""What the audit log costs an authenticated records read: the same reads with and without it.

The records app runs in this process (ASGI, no network) on the embedded SQLite default, with
its lifespan: the audit sealer chains entries beside the requests every second, as in
production. The reads are what the client-record page fetches as the clinician (notes,
values, goals, progress, a session record), with a few of each on file; every note read
appends one audit entry per note. The baseline is the same app and the same reads with the
audit append replaced by a no-op, measured in the same run, rounds alternating. Both run
sequentially (latency) and twenty at a time (the page's parallel GETs). At the end the
sealer catches up and ``verify-audit``'s check runs. Prints figures; passes or fails nothing.

    uv run python bench/bench_records_audit.py [--reads 400] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _table  # noqa: E402
from services.records import audit  # noqa: E402
from services.records.app import create_app, migrate  # noqa: E402
from services.records.events import build_router  # noqa: E402
from services.records.settings import RecordsSettings  # noqa: E402
from shared.events.catalog import UserRegistered  # noqa: E402
from shared.events.envelope import decode, encode  # noqa: E402
from tests.support.tokens import TestTokenIssuer  # noqa: E402

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


async def _no_audit(*_: Any, **__: Any) -> None:
    return None


@contextlib.contextmanager
def audit_off() -> Iterator[None]:
    """``audit.record`` replaced by a no-op: every use case calls it through the package."""
    original = audit.record
    audit.record = _no_audit  # type: ignore[assignment]
    try:
        yield
    finally:
        audit.record = original  # type: ignore[assignment]


class Page:
    def __init__(self, app: Any, http: httpx.AsyncClient, issuer: TestTokenIssuer) -> None:
        self.app, self.http, self.issuer = app, http, issuer

    def auth(self, user: uuid.UUID, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(user, role)}"}

    async def register(self, role: str) -> uuid.UUID:
        user = uuid.uuid4()
        record = encode(UserRegistered(user_id=user, role=role, registered_at=T0), source="/b")  # type: ignore[arg-type]
        async with self.app.state.database.unit_of_work() as db:
            await build_router().dispatch(db, decode(record.key, record.value, record.headers))
        return user

    async def post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        response = await self.http.post(url, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def reads(self) -> tuple[list[str], dict[str, str]]:
        """A clinician's client with notes, values, a goal and a session; the page's GETs."""
        clinician, client = await self.register("clinician"), await self.register("client")
        as_clinician, as_client = self.auth(clinician, "clinician"), self.auth(client, "client")
        ends = T0 + timedelta(minutes=50)
        booked = await self.post(
            "/v1/appointments",
            {"client_id": str(client), "starts_at": T0.isoformat(), "ends_at": ends.isoformat()},
            as_clinician,
        )
        await self.post("/v1/care-relationships", {"client_id": str(client)}, as_clinician)
        goal = await self.post(
            "/v1/goals", {"client_id": str(client), "statement": "Walk daily"}, as_clinician
        )
        await self.post(f"/v1/goals/{goal['id']}/agreement", {}, as_client)
        for n in range(5):
            note = {"client_id": str(client), "visibility": "private", "text": f"note {n}"}
            await self.post("/v1/notes", note, as_clinician)
        await self.post("/v1/values", {"statement": "Family"}, as_client)
        return [
            f"/v1/notes?client_id={client}",
            f"/v1/values?client_id={client}",
            f"/v1/goals?client_id={client}",
            f"/v1/clients/{client}/progress?limit=200",
            f"/v1/sessions/{booked['session_id']}",
        ], as_clinician


@contextlib.asynccontextmanager
async def running_records(directory: Path) -> AsyncIterator[Page]:
    url = f"sqlite+aiosqlite:///{directory / 'records.db'}"
    await asyncio.to_thread(migrate, url)
    settings = RecordsSettings(
        environment="test", database_url=url, kafka_bootstrap="127.0.0.1:1", log_level="ERROR"
    )
    issuer = TestTokenIssuer()
    app = create_app(settings, key_source=issuer.key_source)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://records") as http,
    ):
        yield Page(app, http, issuer)


async def timed(page: Page, urls: list[str], auth: dict[str, str], n: int, width: int) -> float:
    """Seconds for ``n`` reads, ``width`` at a time; every one must answer 200."""
    started = time.perf_counter()
    for batch in range(0, n, width):
        responses = await asyncio.gather(
            *(page.http.get(urls[i % len(urls)], headers=auth) for i in range(batch, batch + width))
        )
        if any(r.status_code != 200 for r in responses):
            raise SystemExit(f"a read failed: {[r.status_code for r in responses]}")
    return time.perf_counter() - started


async def run(reads: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        async with running_records(Path(tmp)) as page:
            urls, auth = await page.reads()
            await timed(page, urls, auth, min(40, reads), 1)  # warm up
            results: dict[tuple[str, int], list[float]] = {}
            for _ in range(rounds):
                for width in (1, 20):
                    results.setdefault(("audited", width), []).append(
                        await timed(page, urls, auth, reads, width)
                    )
                    with audit_off():
                        results.setdefault(("baseline", width), []).append(
                            await timed(page, urls, auth, reads, width)
                        )
            await page.app.state.audit_sealer.seal()
            async with page.app.state.database.unit_of_work() as db:
                verification = await audit.verify_audit_log(db)

    print(f"{reads} authenticated record-page reads as the clinician, median of {rounds} rounds")
    print("records on SQLite (WAL), in process; the sealer runs beside the requests")
    for width in (1, 20):
        audited = statistics.median(results[("audited", width)])
        baseline = statistics.median(results[("baseline", width)])
        print(f"  {width:>2} at a time:")
        print(
            f"    with audit:     {reads / audited:8.0f} reads/s  {audited / reads * 1000:6.2f} ms/read"
        )
        print(
            f"    without audit:  {reads / baseline:8.0f} reads/s  {baseline / reads * 1000:6.2f} ms/read"
        )
        print(f"    ratio (with / without time): {audited / baseline:5.2f}x")
        _table.report(
            [
                _table.Figure(
                    bench="records_audit",
                    name=f"record-page reads with audit, {width} at a time (SQLite)",
                    value=reads / audited,
                    unit="reads/s",
                    samples=reads,
                    baseline=reads / baseline,
                    baseline_name="same reads, audit off",
                )
            ]
        )
    print(
        f"verify-audit: {'clean' if verification.ok else 'BROKEN'}, "
        f"{verification.checked} entries chained, {verification.unsealed} unsealed"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.reads, args.rounds = 20, 1
    asyncio.run(run(args.reads, args.rounds))


if __name__ == "__main__":
    main()
