"""A tamper-evident audit log any service can keep: entries, their hash chain, the sealer.

A service's audit table is a :class:`AuditFields` table model. Requests append unsealed
entries in their own transactions, concurrently, with ids the database assigns, and never
read or lock the chain. One sealer at a time (:func:`claim_sealer`) later gives each
committed entry its place in the chain (``seq``, 1, 2, 3, …) and its hash. Changing any
stored field of a sealed entry breaks its own hash; deleting one leaves a gap in ``seq`` and
breaks the link from the next one; inserting or reordering sealed entries breaks the links
around them. Deleting the newest entries leaves a shorter valid chain, which only an
external copy of the head hash reveals; :func:`verify` returns the head so operators can
keep one. The database refuses every change to a row but its seal (:func:`append_only_sql`).

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
import hashlib
import json
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import BigInteger, func, insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database, UtcDateTime, utc_now

log = logging.getLogger(__name__)

Entry = TypeVar("Entry", bound="AuditFields")


class AuditFields(SQLModel):
    """Who read or changed what, and when; never the content itself.

    ``actor_id`` is empty when the service itself acted (``actor_role`` is then ``system``).
    """

    # Assigned by the database as the entry is written: the order of writes, not of commits.
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    actor_id: uuid.UUID | None = Field(default=None, index=True)
    actor_role: str = Field(max_length=20)
    action: str = Field(max_length=20)
    resource_type: str = Field(max_length=40)
    resource_id: str = Field(max_length=64)
    # The token subject when it is not a user (a partner app), and where the request came from.
    actor_subject: str | None = Field(default=None, max_length=128)
    origin: str | None = Field(default=None, max_length=64)
    # Why an admin broke the glass; never clinical text.
    reason: str | None = Field(default=None, max_length=500)
    # The hash chain, filled in by the sealer after the entry is committed: ``seq`` is the
    # entry's place in the chain; all three are empty until then.
    seq: int | None = Field(default=None, sa_type=BigInteger)
    prev_hash: str | None = Field(default=None, max_length=64)
    entry_hash: str | None = Field(default=None, max_length=64)


GENESIS = "0" * 64


def entry_hash(entry: AuditFields, prev_hash: str) -> str:
    """The SHA-256 of the entry's fields (canonical JSON) and the previous entry's hash.

    ``seq`` is not hashed (entries chained before the sealer existed were hashed without
    it): an entry's place is fixed by ``prev_hash``, which is.
    """
    fields = [
        entry.id,
        entry.at.isoformat(),
        str(entry.actor_id) if entry.actor_id else None,
        entry.actor_subject,
        entry.actor_role,
        entry.action,
        entry.resource_type,
        entry.resource_id,
        entry.origin,
        entry.reason,
        prev_hash,
    ]
    canonical = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def seal(entry: AuditFields, seq: int, prev_hash: str) -> str:
    """Give a committed entry its place in the chain; returns its hash (the next entry's prev)."""
    entry.seq = seq
    entry.prev_hash = prev_hash
    entry.entry_hash = entry_hash(entry, prev_hash)
    return entry.entry_hash


@dataclass(frozen=True)
class Problem:
    entry_id: int
    what: str


@dataclass
class Verification:
    checked: int = 0
    head: str = GENESIS
    last_seq: int = 0
    # Committed entries the sealer has not reached yet (not part of the chain verified).
    unsealed: int = 0
    problems: list[Problem] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(entries: Iterable[AuditFields], state: Verification | None = None) -> Verification:
    """Walk sealed entries in ``seq`` order (in pages, passing ``state`` on); report every break."""
    state = state or Verification(problems=[])
    problems = state.problems if state.problems is not None else []
    state.problems = problems
    for entry in entries:
        assert entry.id is not None and entry.seq is not None
        if entry.seq != state.last_seq + 1:
            problems.append(
                Problem(entry.id, f"chain entries {state.last_seq + 1}..{entry.seq - 1} missing")
            )
        if entry.prev_hash != state.head:
            problems.append(Problem(entry.id, "previous entry changed or deleted"))
        if entry_hash(entry, entry.prev_hash or GENESIS) != entry.entry_hash:
            problems.append(Problem(entry.id, "entry changed"))
        state.head = entry.entry_hash or GENESIS
        state.last_seq = entry.seq
        state.checked += 1
    return state


# The database side


APPEND_ONLY = "is append-only"
# The fields a seal never changes.
_KEPT = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "resource_type",
    "resource_id",
    "actor_subject",
    "origin",
    "reason",
)


def sealing_condition(same: str) -> str:
    """SQL true when an UPDATE only seals an unsealed entry (``same`` compares null-safely:
    ``IS`` on SQLite, ``IS NOT DISTINCT FROM`` on PostgreSQL)."""
    kept = " AND ".join(f"NEW.{c} {same} OLD.{c}" for c in _KEPT)
    return (
        "OLD.seq IS NULL AND OLD.entry_hash IS NULL AND NEW.seq IS NOT NULL "
        f"AND NEW.prev_hash IS NOT NULL AND NEW.entry_hash IS NOT NULL AND {kept}"
    )


def append_only_sql(table: str, dialect: str) -> list[str]:
    """Statements (for a migration) by which the database refuses to rewrite ``table``'s
    history: no DELETE, no TRUNCATE, no UPDATE but the sealer's."""
    refusal = f"{table} {APPEND_ONLY}"
    if dialect == "postgresql":
        return [
            f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'UPDATE' AND {sealing_condition('IS NOT DISTINCT FROM')} THEN "
            f"RETURN NEW; END IF; RAISE EXCEPTION '{refusal}'; END; $$",
            f"CREATE TRIGGER {table}_no_rewrite BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        f"WHEN NOT ({sealing_condition('IS')}) BEGIN SELECT RAISE(ABORT, '{refusal}'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{refusal}'); END",
    ]


def _sealer_lock(model: type[AuditFields]) -> int:
    """The advisory lock key of one table's sealer (any fixed 64-bit number per table)."""
    digest = hashlib.sha256(f"audit-sealer:{model.__tablename__}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def claim_sealer(db: AsyncSession, model: type[AuditFields]) -> bool:
    """Make this unit of work the only sealer of ``model``'s table until it ends; False if
    another is.

    PostgreSQL: a transaction-scoped advisory lock that only sealers try (requests never
    wait on it). SQLite: take the database's write lock before reading the chain's head, so
    a second process's sealer waits and then sees this one's seals.
    """
    if db.get_bind().dialect.name == "postgresql":
        claimed = await db.exec(select(func.pg_try_advisory_xact_lock(_sealer_lock(model))))
        return bool(claimed.one())
    await (await db.connection()).exec_driver_sql("BEGIN IMMEDIATE")
    return True


async def chain_head(db: AsyncSession, model: type[AuditFields]) -> tuple[int, str | None]:
    """The newest sealed entry's place in the chain and its hash (0 and None when empty)."""
    query = select(model.seq, model.entry_hash).where(col(model.seq).is_not(None))
    row = (await db.exec(query.order_by(col(model.seq).desc()).limit(1))).first()
    return (0, None) if row is None else (row[0] or 0, row[1])


async def unsealed(db: AsyncSession, model: type[Entry], limit: int) -> Sequence[Entry]:
    """Committed entries the sealer has not reached, oldest id first."""
    query = select(model).where(col(model.seq).is_(None)).order_by(col(model.id))
    return (await db.exec(query.limit(limit))).all()


async def backlog(db: AsyncSession, model: type[AuditFields]) -> tuple[int, datetime | None]:
    """How many committed entries wait for the sealer, and when the oldest was written."""
    query = select(func.count(), func.min(model.at)).where(col(model.seq).is_(None))
    count, oldest = (await db.exec(query)).one()
    return int(count), oldest


async def chain_page(
    db: AsyncSession, model: type[Entry], after_seq: int, limit: int
) -> Sequence[Entry]:
    """Sealed entries in chain order after place ``after_seq``."""
    query = select(model).where(col(model.seq) > after_seq).order_by(col(model.seq))
    return (await db.exec(query.limit(limit))).all()


async def verify_log(
    db: AsyncSession, model: type[AuditFields], page_size: int = 1000
) -> Verification:
    """Walk the whole sealed chain and report every changed, missing or moved entry."""
    state = Verification(problems=[])
    while entries := await chain_page(db, model, state.last_seq, page_size):
        verify(entries, state)
    state.unsealed, _ = await backlog(db, model)
    return state


# Appending reads in batches


class _Batch:
    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.written = False


class AuditAppender:
    """Writes the audit entries of many concurrent reads in one short transaction (group commit).

    A read's entries cannot share the read's own unit of work without making every read a
    write: on SQLite each then waits for the one write lock (in the busy handler's sleeps),
    on PostgreSQL each pays a commit of its own. Here a read hands its entries over and
    waits until they are committed, so nothing is served unaudited; whoever finds no batch
    being written writes everything handed over so far, in one INSERT, while the next batch
    gathers. Changes keep their entries in their own unit of work: an entry must exist
    exactly when its change does. ``database`` should be the appender's own (one
    connection is enough): a read waits here while holding its pooled connection, and a
    full pool must not keep the batch that would free it from being written.
    """

    def __init__(self, database: Database, model: type[AuditFields]) -> None:
        self._database = database
        self._table = model.__table__  # type: ignore[attr-defined]
        self._batch = _Batch()
        self._writing = asyncio.Lock()

    async def append(self, entries: Sequence[AuditFields]) -> None:
        """Return once ``entries`` are committed (unsealed, as any entry is at first)."""
        if not entries:
            return
        batch = self._batch
        batch.rows.extend(entry.model_dump(exclude={"id"}) for entry in entries)
        async with self._writing:
            if batch.written:
                return
            # New entries gather in the next batch while this one is written. A batch whose
            # writer failed or was cancelled is written by the next of its waiters (or, if
            # none is left, by nobody: its readers all got an error, never an answer).
            if self._batch is batch:
                self._batch = _Batch()
            async with self._database.unit_of_work(notify=False) as db:
                await (await db.connection()).execute(insert(self._table), batch.rows)
            batch.written = True


# The sealer


class AuditSealer:
    """Seals the audit log every ``poll_seconds``; exposes its lag as Prometheus metrics."""

    def __init__(
        self,
        database: Database,
        model: type[AuditFields],
        registry: CollectorRegistry,
        *,
        poll_seconds: float,
        batch: int = 1000,
    ) -> None:
        self._database = database
        self._model = model
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
            if not await claim_sealer(db, self._model):
                return 0
            last_seq, head = await chain_head(db, self._model)
            entries = await unsealed(db, self._model, self._batch)
            head = head or GENESIS
            for seq, entry in enumerate(entries, start=last_seq + 1):
                head = seal(entry, seq, head)
        self.sealed.inc(len(entries))
        return len(entries)

    async def measure(self) -> None:
        """Count what waits for the sealer (every process does, sealing or not)."""
        async with self._database.unit_of_work(notify=False) as db:
            count, oldest = await backlog(db, self._model)
        self.unsealed.set(count)
        self._oldest_unsealed = oldest

    async def run(self) -> None:
        # A round waits one interval first: what a previous process left is sealed a moment
        # later, and a caller that seals on demand (a command, a test) is never raced by a
        # round the app started on its own at start-up.
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._poll)
            if self._stopping.is_set():
                break
            try:
                await self.seal()
            except (SQLAlchemyError, OSError) as exc:
                # Another sealer won a race (the unique seq or the append-only guard refused
                # this one's seals), or the database is away: nothing was sealed; try again.
                log.warning("audit sealer: round failed, retrying: %s", type(exc).__name__)

    def stop(self) -> None:
        self._stopping.set()
