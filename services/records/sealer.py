"""The audit sealer: chains committed audit entries beside the requests that wrote them.

Requests append unsealed entries in their own transactions, concurrently, with ids the
database assigns. One sealer at a time (see ``repository.claim_audit_sealer``) takes every
committed entry that has no place yet and gives it the next ``seq`` and its hash.

Why ``seq`` and not the id: ids are handed out when a row is written, not when its
transaction commits, so a request that wrote id 7 may commit after one that wrote id 8. A
sealer that chained by id would have to wait out every transaction that might still commit
below the newest id (a settle window, guessing how long a request can take). Instead the
chain's order is the order in which the sealer *sees* entries committed: each round seals
exactly the entries committed by then (uncommitted rows are invisible to it), and one that
commits late, whatever its id, is simply sealed in the next round after the others. Nothing
is skipped, nothing waits on a clock, and the chain is in commit order as far as any reader
could observe it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.exc import SQLAlchemyError

from services.records import audit, repository
from shared.db import Database, utc_now

log = logging.getLogger(__name__)


class AuditSealer:
    """Seals the audit log every ``poll_seconds``; exposes its lag as Prometheus metrics."""

    def __init__(
        self,
        database: Database,
        registry: CollectorRegistry,
        *,
        poll_seconds: float,
        batch: int = 1000,
    ) -> None:
        self._database = database
        self._poll = poll_seconds
        self._batch = batch
        self._stopping = asyncio.Event()
        self._oldest_unsealed: datetime | None = None
        self.sealed = Counter(
            "rapport_audit_sealed_entries_total",
            "Audit entries the sealer has chained",
            registry=registry,
        )
        self.unsealed = Gauge(
            "rapport_audit_unsealed_entries",
            "Committed audit entries not yet chained, at the sealer's last look",
            registry=registry,
        )
        oldest = Gauge(
            "rapport_audit_oldest_unsealed_seconds",
            "Age of the oldest committed audit entry not yet chained (0 when none)",
            registry=registry,
        )
        oldest.set_function(self._oldest_age)

    def _oldest_age(self) -> float:
        if self._oldest_unsealed is None:
            return 0.0
        return max(0.0, (utc_now() - self._oldest_unsealed).total_seconds())

    async def seal(self) -> int:
        """Chain every entry committed so far; return how many this call sealed.

        Another process's sealer may hold the chain; then this one seals nothing now and
        only measures the backlog.
        """
        total = 0
        while True:
            sealed = await self._seal_batch()
            total += sealed
            if sealed < self._batch:
                break
        await self.measure()
        return total

    async def _seal_batch(self) -> int:
        async with self._database.unit_of_work(notify=False) as db:
            if not await repository.claim_audit_sealer(db):
                return 0
            last_seq, head = await repository.audit_chain_head(db)
            entries = await repository.unsealed_audit(db, self._batch)
            head = head or audit.GENESIS
            for seq, entry in enumerate(entries, start=last_seq + 1):
                head = audit.seal(entry, seq, head)
        self.sealed.inc(len(entries))
        return len(entries)

    async def measure(self) -> None:
        """Count what waits for the sealer (every process does, sealing or not)."""
        async with self._database.unit_of_work(notify=False) as db:
            count, oldest = await repository.audit_backlog(db)
        self.unsealed.set(count)
        self._oldest_unsealed = oldest

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.seal()
            except (SQLAlchemyError, OSError) as exc:
                # Another sealer won a race (the unique seq or the append-only guard refused
                # this one's seals), or the database is away: nothing was sealed; try again.
                log.warning("audit sealer: round failed, retrying: %s", type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._poll)

    def stop(self) -> None:
        self._stopping.set()
