"""The dispatcher: sends due notifications and records how each attempt went.

A claim (its own short unit of work) counts the attempt and leases the notification; the
letter is written and sent outside any transaction; the outcome is recorded in a third unit
of work. A process that dies between the send and the record leaves a lease that runs out,
and the notification is sent again: the one duplicate that SMTP cannot rule out, sent with the
same Message-ID so mail systems can recognise it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from services.notifications import service
from services.notifications.channels import Channel
from services.notifications.errors import (
    DeliveryFailure,
    NoLongerDeliverable,
    PermanentFailure,
)
from services.notifications.models import Notification
from shared.db import Database, utc_now

log = logging.getLogger(__name__)

# Beyond the channel's own timeout, so a lease never runs out while an attempt is under way.
LEASE_MARGIN_SECONDS = 30.0


class Dispatcher:
    """Delivers pending notifications until stopped."""

    def __init__(
        self,
        database: Database,
        notifier: service.Notifier,
        channel: Channel,
        *,
        retry_policy: service.RetryPolicy,
        attempt_timeout_seconds: float,
        poll_seconds: float = 1.0,
        max_in_flight: int = 8,
    ) -> None:
        self._database = database
        self._notifier = notifier
        self._channel = channel
        self._retry = retry_policy
        self._lease = timedelta(seconds=attempt_timeout_seconds * 2 + LEASE_MARGIN_SECONDS)
        self._poll = poll_seconds
        self._max_in_flight = max_in_flight
        self._in_flight: set[asyncio.Task[None]] = set()
        self._wakeup = asyncio.Event()
        self._stopping = False
        self.sent = 0

    def wake(self) -> None:
        """Look for due notifications now (new ones were committed, or a slot freed up)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Claim nothing more; :meth:`run` returns once the attempts in flight are recorded."""
        self._stopping = True
        self._wakeup.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._claim_and_send()
            except SQLAlchemyError as exc:
                log.warning(
                    "notifications dispatcher: database unavailable: %s", type(exc).__name__
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=await self._sleep_for())
            self._wakeup.clear()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def _sleep_for(self) -> float:
        try:
            async with self._database.unit_of_work(notify=False) as session:
                due = await service.next_due_at(session)
        except SQLAlchemyError:
            return self._poll
        if due is None:
            return self._poll
        return min(self._poll, max((due - utc_now()).total_seconds(), 0.01))

    async def _claim_and_send(self) -> None:
        free = self._max_in_flight - len(self._in_flight)
        if free <= 0:
            return
        async with self._database.unit_of_work(notify=False) as session:
            claimed = await service.claim_due(session, utc_now(), limit=free, lease=self._lease)
        for notification in claimed:
            task = asyncio.create_task(self._attempt(notification))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.wake()

    async def _attempt(self, notification: Notification) -> None:
        try:
            async with self._database.unit_of_work(notify=False) as session:
                letter = await self._notifier.write(session, notification)
            await self._channel.deliver(letter)
        except DeliveryFailure as failure:
            await self._record_failure(notification, failure)
            return
        except Exception as exc:  # a bug in writing one message must not stop the others
            log.exception("notification %s could not be written", notification.id)
            await self._record_failure(notification, PermanentFailure(type(exc).__name__))
            return
        async with self._database.unit_of_work(notify=False) as session:
            await service.record_sent(session, notification.id)
        self.sent += 1
        log.info(
            "notification sent",
            extra={"notification_id": str(notification.id), "notification_kind": notification.kind},
        )

    async def _record_failure(self, notification: Notification, failure: DeliveryFailure) -> None:
        async with self._database.unit_of_work(notify=False) as session:
            after = await service.record_failure(
                session,
                notification.id,
                reason=failure.reason,
                permanent=isinstance(failure, PermanentFailure),
                skipped=isinstance(failure, NoLongerDeliverable),
                retry=self._retry,
            )
        status = after.status if after else "gone"
        log.warning(
            "notification attempt failed",
            extra={
                "notification_id": str(notification.id),
                "notification_kind": notification.kind,
                "attempt": notification.attempts,
                "status": status,
                "reason": failure.reason,
            },
        )
