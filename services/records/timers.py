"""Work records does on a clock: appointment reminders, announcing settled sessions, and
escalating safety flags nobody acknowledged in time.

Entry points like the API and the event handlers: each tick runs in its own unit of work,
so a change, the rows that say it was done and its outbox events commit together. A tick
that fails (the database is away, another records process did the same work first and the
commit conflicts) changes nothing and is tried again on the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.records import safety, scheduling, sessions
from shared.db import Database, utc_now

log = logging.getLogger(__name__)


class _Periodic:
    """Runs :meth:`tick` every ``poll_seconds`` until stopped."""

    name = "periodic"

    def __init__(
        self,
        database: Database,
        *,
        poll_seconds: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._database = database
        self._poll = poll_seconds
        self._clock = clock
        self._stopping = asyncio.Event()

    async def tick(self) -> int:
        raise NotImplementedError

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("%s: tick failed, retrying: %s", self.name, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._poll)

    def stop(self) -> None:
        self._stopping.set()


class ReminderLoop(_Periodic):
    """Queues ``AppointmentReminderDue`` for each lead time as appointments come near."""

    name = "reminders"

    def __init__(
        self,
        database: Database,
        lead_hours: Sequence[float],
        *,
        poll_seconds: float = 60.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(database, poll_seconds=poll_seconds, clock=clock)
        self._lead_hours = tuple(lead_hours)

    async def tick(self) -> int:
        """Queue every reminder due now; returns how many."""
        async with self._database.unit_of_work() as db:
            return await scheduling.send_due_reminders(db, self._clock(), self._lead_hours)


class CompletionLoop(_Periodic):
    """Announces ended sessions (no-shows, interrupted ones) once their records settled."""

    name = "session-completions"

    def __init__(
        self,
        database: Database,
        settle_seconds: float,
        *,
        billing: sessions.BillingTable | None = None,
        poll_seconds: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(database, poll_seconds=poll_seconds, clock=clock)
        self._settle = timedelta(seconds=settle_seconds)
        self._billing = billing or sessions.BillingTable.standard()

    async def tick(self) -> int:
        """Announce every session settled by now; returns how many."""
        async with self._database.unit_of_work() as db:
            return await sessions.announce_settled_sessions(
                db, self._clock(), self._settle, self._billing
            )


class EscalationLoop(_Periodic):
    """Escalates open safety flags past their deadline to the clinic's on-call.

    The deadline is stored on each flag, so a flag that fell due while records was down
    escalates on the first tick after it starts again.
    """

    name = "safety-escalations"

    def __init__(
        self,
        database: Database,
        on_call_id: uuid.UUID | None,
        *,
        poll_seconds: float = 15.0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        super().__init__(database, poll_seconds=poll_seconds, clock=clock)
        self._on_call = on_call_id

    async def tick(self) -> int:
        """Escalate every flag overdue now; returns how many."""
        async with self._database.unit_of_work() as db:
            return await safety.escalate_overdue(db, self._clock(), self._on_call)
