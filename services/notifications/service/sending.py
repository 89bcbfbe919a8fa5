"""The dispatcher's use cases: claiming due notifications, recording how each attempt went,
retrying on the schedule. Nothing here commits."""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import repository
from services.notifications.models import Notification, Status
from shared.db import utc_now


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed notification again, and when to give up."""

    schedule: Sequence[float]
    jitter: float = 0.1

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """After ``attempts`` failed attempts: when to try again, or None to give up."""
        if attempts > len(self.schedule):
            return None
        delay = self.schedule[attempts - 1]
        delay *= 1 + random.uniform(-self.jitter, self.jitter)  # noqa: S311 - spreading retries
        return now + timedelta(seconds=max(delay, 0.0))


async def claim_due(
    session: AsyncSession, now: datetime, *, limit: int, lease: timedelta
) -> list[Notification]:
    """Take up to ``limit`` due notifications: each counts an attempt and is hidden from other
    dispatchers for ``lease`` (should this process die mid-attempt, it is retried then)."""
    claimed = await repository.lock_due(session, now, limit)
    for notification in claimed:
        notification.attempts += 1
        notification.next_attempt_at = now + lease
        repository.save(session, notification)
    return claimed


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending notification falls due (None: nothing is pending)."""
    return await repository.next_due_at(session)


async def record_sent(session: AsyncSession, notification_id: uuid.UUID) -> None:
    notification = await repository.notification(session, notification_id)
    if notification is None:
        return
    notification.status = Status.SENT
    notification.sent_at = notification.finished_at = utc_now()
    notification.last_error = None
    repository.save(session, notification)


async def record_failure(
    session: AsyncSession,
    notification_id: uuid.UUID,
    *,
    reason: str,
    permanent: bool,
    skipped: bool,
    retry: RetryPolicy,
) -> Notification | None:
    """Note a failed attempt: skip it, retry it on the schedule, or give up on it."""
    notification = await repository.notification(session, notification_id)
    if notification is None:
        return None
    now = utc_now()
    notification.last_error = reason[:500]
    next_attempt = None if permanent or skipped else retry.next_attempt(notification.attempts, now)
    if next_attempt is None:
        notification.status = Status.SKIPPED if skipped else Status.FAILED
        notification.finished_at = now
    else:
        notification.next_attempt_at = next_attempt
    repository.save(session, notification)
    return notification
