"""All SQL of the webhooks service."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import func
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks.models import (
    ClinicianGrant,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    SessionClinician,
    WebhookEndpoint,
)


def add(
    session: AsyncSession,
    row: WebhookEndpoint | Delivery | DeliveryAttempt | ClinicianGrant | SessionClinician,
) -> None:
    """Stage a new row in the caller's unit of work."""
    session.add(row)


async def endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint | None:
    """A live (not deleted) endpoint by id."""
    rows = await session.exec(
        select(WebhookEndpoint).where(
            WebhookEndpoint.id == endpoint_id, col(WebhookEndpoint.deleted_at).is_(None)
        )
    )
    return rows.first()


async def endpoints_owned_by(session: AsyncSession, owner_id: str) -> list[WebhookEndpoint]:
    """An owner's live endpoints, oldest first."""
    rows = await session.exec(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.owner_id == owner_id, col(WebhookEndpoint.deleted_at).is_(None))
        .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
    )
    return list(rows.all())


async def live_endpoints(session: AsyncSession) -> list[WebhookEndpoint]:
    """Every endpoint that may receive deliveries (neither deleted nor disabled)."""
    rows = await session.exec(
        select(WebhookEndpoint).where(
            col(WebhookEndpoint.deleted_at).is_(None), col(WebhookEndpoint.disabled_at).is_(None)
        )
    )
    return list(rows.all())


async def endpoints_with_delivery_of(session: AsyncSession, event_id: str) -> set[uuid.UUID]:
    """Endpoints that already have a delivery of this event."""
    rows = await session.exec(select(Delivery.endpoint_id).where(Delivery.event_id == event_id))
    return set(rows.all())


async def fail_pending_deliveries(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    """Stop retrying an endpoint's deliveries (it was deleted)."""
    await session.exec(
        update(Delivery)
        .where(
            col(Delivery.endpoint_id) == endpoint_id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, next_attempt_at=None)
    )


async def pending_per_endpoint(
    session: AsyncSession,
) -> list[tuple[uuid.UUID, int, datetime]]:
    """Per endpoint with pending deliveries: how many, and when the oldest was queued."""
    rows = await session.exec(
        select(col(Delivery.endpoint_id), func.count(), func.min(col(Delivery.created_at)))
        .where(col(Delivery.status) == DeliveryStatus.PENDING)
        .group_by(col(Delivery.endpoint_id))
    )
    return [(endpoint_id, int(count), oldest) for endpoint_id, count, oldest in rows.all()]


async def lock_due_deliveries(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    skip_endpoints: Collection[uuid.UUID] = (),
) -> list[tuple[Delivery, WebhookEndpoint]]:
    """Pending deliveries due by ``now`` to live endpoints, oldest due first, with their endpoint.

    On PostgreSQL the rows are locked and rows locked by another dispatcher are skipped, so
    replicas share the work without sending anything twice.
    """
    query = (
        select(Delivery, WebhookEndpoint)
        .join(WebhookEndpoint, col(Delivery.endpoint_id) == col(WebhookEndpoint.id))
        .where(
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.next_attempt_at) <= now,
            col(WebhookEndpoint.deleted_at).is_(None),
            col(WebhookEndpoint.disabled_at).is_(None),
        )
        .order_by(col(Delivery.next_attempt_at))
        .limit(limit)
    )
    if skip_endpoints:
        query = query.where(col(Delivery.endpoint_id).not_in(list(skip_endpoints)))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Delivery)
    rows = await session.exec(query)
    return [(delivery, endpoint) for delivery, endpoint in rows.all()]


async def delivery_with_endpoint(
    session: AsyncSession, delivery_id: str
) -> tuple[Delivery, WebhookEndpoint] | None:
    """A delivery and its endpoint (deleted or not)."""
    rows = await session.exec(
        select(Delivery, WebhookEndpoint)
        .join(WebhookEndpoint, col(Delivery.endpoint_id) == col(WebhookEndpoint.id))
        .where(Delivery.id == delivery_id)
    )
    row = rows.first()
    return (row[0], row[1]) if row is not None else None


async def deliveries_of(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    status: DeliveryStatus | None,
    limit: int,
) -> list[Delivery]:
    """An endpoint's deliveries, newest first."""
    query = select(Delivery).where(Delivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(col(Delivery.status) == status)
    rows = await session.exec(
        query.order_by(col(Delivery.created_at).desc(), col(Delivery.id)).limit(limit)
    )
    return list(rows.all())


async def attempts_of(
    session: AsyncSession, delivery_ids: Iterable[str]
) -> dict[str, list[DeliveryAttempt]]:
    """Every attempt of the given deliveries, in the order they were made."""
    ids = list(delivery_ids)
    attempts: dict[str, list[DeliveryAttempt]] = {delivery_id: [] for delivery_id in ids}
    if not ids:
        return attempts
    rows = await session.exec(
        select(DeliveryAttempt)
        .where(col(DeliveryAttempt.delivery_id).in_(ids))
        .order_by(col(DeliveryAttempt.attempt_number), col(DeliveryAttempt.id))
    )
    for attempt in rows.all():
        attempts[attempt.delivery_id].append(attempt)
    return attempts


async def delivery_of_endpoint(
    session: AsyncSession, endpoint_id: uuid.UUID, delivery_id: str
) -> Delivery | None:
    """One of an endpoint's deliveries."""
    rows = await session.exec(
        select(Delivery).where(Delivery.id == delivery_id, Delivery.endpoint_id == endpoint_id)
    )
    return rows.first()


async def failed_deliveries_since(
    session: AsyncSession, endpoint_id: uuid.UUID, since: datetime
) -> list[Delivery]:
    """An endpoint's failed deliveries created at or after ``since``, oldest first."""
    rows = await session.exec(
        select(Delivery)
        .where(
            Delivery.endpoint_id == endpoint_id,
            col(Delivery.status) == DeliveryStatus.FAILED,
            col(Delivery.created_at) >= since,
        )
        .order_by(col(Delivery.created_at), col(Delivery.id))
    )
    return list(rows.all())


async def owners_granted(session: AsyncSession, clinician_id: uuid.UUID) -> set[str]:
    """The endpoint owners (partner apps) the clinician granted access to."""
    rows = await session.exec(
        select(ClinicianGrant.owner_id).where(ClinicianGrant.clinician_id == clinician_id)
    )
    return set(rows.all())


async def grant(
    session: AsyncSession, owner_id: str, clinician_id: uuid.UUID
) -> ClinicianGrant | None:
    """The grant of ``clinician_id`` to ``owner_id``, if there is one."""
    return await session.get(ClinicianGrant, (owner_id, clinician_id))


async def delete_grant(session: AsyncSession, owner_id: str, clinician_id: uuid.UUID) -> None:
    """Forget a grant (revoked)."""
    found = await grant(session, owner_id, clinician_id)
    if found is not None:
        await session.delete(found)


async def fail_pending_deliveries_about(
    session: AsyncSession, owner_id: str, clinician_id: uuid.UUID
) -> None:
    """Stop retrying the deliveries of a clinician's events to an owner's endpoints."""
    endpoints = select(WebhookEndpoint.id).where(WebhookEndpoint.owner_id == owner_id)
    await session.exec(
        update(Delivery)
        .where(
            col(Delivery.endpoint_id).in_(endpoints),
            col(Delivery.clinician_id) == clinician_id,
            col(Delivery.status) == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, next_attempt_at=None)
    )


async def session_clinician(session: AsyncSession, session_id: uuid.UUID) -> uuid.UUID | None:
    """The clinician of a session, as appointment.scheduled said."""
    found = await session.get(SessionClinician, session_id)
    return found.clinician_id if found is not None else None
