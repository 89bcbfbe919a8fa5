"""All SQL of the webhooks service."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy import func, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks.models import (
    AggregateSequence,
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
    """Every endpoint that is not deleted (a disabled one still has messages kept for it)."""
    rows = await session.exec(
        select(WebhookEndpoint).where(col(WebhookEndpoint.deleted_at).is_(None))
    )
    return list(rows.all())


async def next_sequence(session: AsyncSession, endpoint_id: uuid.UUID, aggregate_id: str) -> int:
    """The next number in an aggregate's sequence of messages to an endpoint (1 for the first).

    One statement that takes the counter's row lock, so two units of work fanning out events
    of the same aggregate at once get consecutive numbers, never the same one.
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    table = AggregateSequence.__table__  # type: ignore[attr-defined]
    statement = (
        insert(table)
        .values(endpoint_id=endpoint_id, aggregate_id=aggregate_id, last_sequence=1)
        .on_conflict_do_update(
            index_elements=["endpoint_id", "aggregate_id"],
            set_={"last_sequence": table.c.last_sequence + 1},
        )
        .returning(table.c.last_sequence)
    )
    result = await session.exec(statement)
    return int(result.scalar_one())


async def release_pending(session: AsyncSession, endpoint_id: uuid.UUID, *, now: datetime) -> int:
    """Make every pending delivery to the endpoint due at once, oldest first, except those
    with an attempt in flight; how many were brought forward.

    Each becomes due at its creation time, so the backlog is claimed in the order the
    messages were created, ahead of anything newer. On PostgreSQL rows locked by another unit
    of work (an attempt being recorded, a claim) are skipped rather than waited for: waiting
    while this unit of work holds the endpoint's row could deadlock with them, and such a
    row is settled by its own attempt anyway (a failure marks the endpoint failing again, so
    the next success brings it forward).
    """
    backlog = select(Delivery.id).where(
        col(Delivery.endpoint_id) == endpoint_id,
        col(Delivery.status) == DeliveryStatus.PENDING,
        (col(Delivery.next_attempt_at).is_(None))
        | (col(Delivery.next_attempt_at) > col(Delivery.created_at)),
        (col(Delivery.leased_until).is_(None)) | (col(Delivery.leased_until) <= now),
    )
    if session.get_bind().dialect.name == "postgresql":
        backlog = backlog.with_for_update(skip_locked=True)
    result = await session.exec(
        update(Delivery)
        .where(col(Delivery.id).in_(backlog.scalar_subquery()))
        .values(next_attempt_at=col(Delivery.created_at))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)


async def pause_pending(session: AsyncSession, endpoint_id: uuid.UUID, *, now: datetime) -> None:
    """Park an endpoint's pending deliveries (it was disabled) until :func:`release_pending`.

    A paused delivery has no ``next_attempt_at``: it stays out of the due index, so a long
    backlog kept for a disabled endpoint costs the other endpoints' claims nothing.
    """
    await session.exec(
        update(Delivery)
        .where(
            col(Delivery.endpoint_id) == endpoint_id,
            col(Delivery.status) == DeliveryStatus.PENDING,
            (col(Delivery.leased_until).is_(None)) | (col(Delivery.leased_until) <= now),
        )
        .values(next_attempt_at=None)
    )


async def messages_of(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    *,
    aggregate_id: str | None,
    after: int,
    since: datetime | None,
    limit: int,
) -> list[Delivery]:
    """An endpoint's messages in order: one aggregate's after a sequence number, or every
    aggregate's created at or after ``since``."""
    query = select(Delivery).where(
        Delivery.endpoint_id == endpoint_id, col(Delivery.sequence).is_not(None)
    )
    if aggregate_id is not None:
        query = query.where(
            Delivery.aggregate_id == aggregate_id, col(Delivery.sequence) > after
        ).order_by(col(Delivery.sequence))
    else:
        if since is not None:
            query = query.where(col(Delivery.created_at) >= since)
        query = query.order_by(col(Delivery.created_at), col(Delivery.id))
    rows = await session.exec(query.limit(limit))
    return list(rows.all())


async def last_sequences(
    session: AsyncSession, endpoint_id: uuid.UUID, aggregate_ids: Collection[str]
) -> dict[str, int]:
    """The last sequence number each of these aggregates has reached at an endpoint."""
    if not aggregate_ids:
        return {}
    rows = await session.exec(
        select(AggregateSequence.aggregate_id, AggregateSequence.last_sequence).where(
            AggregateSequence.endpoint_id == endpoint_id,
            col(AggregateSequence.aggregate_id).in_(list(aggregate_ids)),
        )
    )
    return dict(rows.all())


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
) -> list[tuple[str, uuid.UUID, datetime | None]]:
    """(id, endpoint id, due time) of pending deliveries due by ``now`` to live endpoints,
    oldest due first.

    Only ids, so that looking past an endpoint that is already busy costs no payloads. On
    PostgreSQL the rows are locked and rows locked by another dispatcher are skipped, so
    replicas share the work without sending anything twice.
    """
    query = (
        select(Delivery.id, Delivery.endpoint_id, col(Delivery.next_attempt_at))
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
    return [(delivery_id, endpoint_id, due) for delivery_id, endpoint_id, due in rows.all()]


class LeasedDelivery(NamedTuple):
    """What an attempt needs from a delivery just leased."""

    id: str
    endpoint_id: uuid.UUID
    payload: dict[str, Any]
    attempt_count: int
    due_at: datetime | None


async def lease_deliveries(
    session: AsyncSession,
    due_at: Mapping[str, datetime | None],
    *,
    now: datetime,
    until: datetime,
) -> list[LeasedDelivery]:
    """Lease the given deliveries until ``until`` (one statement), those still pending and
    due: a delivery failed (its endpoint deleted, a grant revoked) or paused (its endpoint
    disabled) since it was looked up is left alone, and so is one another claim leased first.
    ``due_at`` maps each id to when it was due, as looked up.
    """
    if not due_at:
        return []
    result = await session.exec(
        update(Delivery)
        .where(
            col(Delivery.id).in_(list(due_at)),
            col(Delivery.status) == DeliveryStatus.PENDING,
            col(Delivery.next_attempt_at) <= now,
        )
        .values(next_attempt_at=until, leased_until=until)
        .returning(
            col(Delivery.id),
            col(Delivery.endpoint_id),
            col(Delivery.payload),
            col(Delivery.attempt_count),
        )
        .execution_options(synchronize_session=False)
    )
    return [LeasedDelivery(row[0], row[1], row[2], row[3], due_at[row[0]]) for row in result.all()]


class ClaimState(NamedTuple):
    """What decides whether a claimed delivery may still be sent."""

    status: str
    leased_until: datetime | None
    endpoint_disabled: bool


async def claim_states(
    session: AsyncSession, delivery_ids: Collection[str]
) -> dict[str, ClaimState]:
    """The state of claimed deliveries and their endpoints, by delivery id (a deleted endpoint
    counts as disabled; its deliveries are failed anyway)."""
    if not delivery_ids:
        return {}
    rows = await session.exec(
        select(
            Delivery.id,
            Delivery.status,
            col(Delivery.leased_until),
            col(WebhookEndpoint.disabled_at).is_not(None)
            | col(WebhookEndpoint.deleted_at).is_not(None),
        )
        .join(WebhookEndpoint, col(Delivery.endpoint_id) == col(WebhookEndpoint.id))
        .where(col(Delivery.id).in_(list(delivery_ids)))
    )
    return {row[0]: ClaimState(row[1], row[2], bool(row[3])) for row in rows.all()}


async def end_leases(
    session: AsyncSession, claims: Sequence[tuple[str, datetime | None, datetime | None]]
) -> None:
    """For each (delivery id, lease, due time): if the delivery is still pending under that
    lease, end the lease and make it due at that time again (one batched statement)."""
    if not claims:
        return
    table = Delivery.__table__  # type: ignore[attr-defined]
    await session.exec(
        update(table)
        .where(
            table.c.id == sa.bindparam("claim_id"),
            table.c.leased_until == sa.bindparam("claim_lease"),
            table.c.status == DeliveryStatus.PENDING,
        )
        .values(next_attempt_at=sa.bindparam("due_at"), leased_until=None),
        params=[
            {"claim_id": delivery_id, "claim_lease": lease, "due_at": due_at}
            for delivery_id, lease, due_at in claims
        ],
    )


async def endpoints_by_id(
    session: AsyncSession, endpoint_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, WebhookEndpoint]:
    """Endpoints by id (deleted or not)."""
    if not endpoint_ids:
        return {}
    rows = await session.exec(
        select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(list(endpoint_ids)))
    )
    return {endpoint.id: endpoint for endpoint in rows.all()}


class DeliveryState(NamedTuple):
    """The part of a delivery an attempt's outcome moves on."""

    id: str
    endpoint_id: uuid.UUID
    status: str
    attempt_count: int
    attempts_before_replay: int
    delivered_at: datetime | None


async def delivery_states(
    session: AsyncSession, delivery_ids: Collection[str]
) -> dict[str, DeliveryState]:
    """The state of the given deliveries, by id (plain rows: nothing for the ORM to track)."""
    if not delivery_ids:
        return {}
    # Core on the session's connection: SQLModel's select is typed for four columns at most.
    connection = await session.connection()
    rows = await connection.execute(
        sa.select(
            col(Delivery.id),
            col(Delivery.endpoint_id),
            col(Delivery.status),
            col(Delivery.attempt_count),
            col(Delivery.attempts_before_replay),
            col(Delivery.delivered_at),
        ).where(col(Delivery.id).in_(list(delivery_ids)))
    )
    return {row[0]: DeliveryState(*row) for row in rows.all()}


async def save_attempts(
    session: AsyncSession,
    attempts: Sequence[Mapping[str, Any]],
    changes: Sequence[Mapping[str, Any]],
) -> None:
    """Store attempts (``DeliveryAttempt`` fields) and the deliveries' new state (``Delivery``
    fields with ``id``), each set in one batched statement rather than one per row."""
    if attempts:
        await session.exec(insert(DeliveryAttempt), params=list(attempts))
    if changes:
        await session.exec(update(Delivery), params=list(changes))


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
