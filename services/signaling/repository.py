"""All of signaling's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.signaling.models import ClientConsent, ConsentVersion, SessionAccess


async def get_access(session: AsyncSession, session_id: uuid.UUID) -> SessionAccess | None:
    """Who may join ``session_id``, or None if no appointment event has named it."""
    return await session.get(SessionAccess, session_id)


async def save_access(
    session: AsyncSession,
    *,
    session_id: uuid.UUID,
    appointment_id: uuid.UUID,
    clinician_id: uuid.UUID,
    client_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    max_participants: int = 2,
    invited_participant_ids: Sequence[uuid.UUID] = (),
) -> SessionAccess:
    """Insert or update a session's roster and slot; signaling's own facts stay as they are."""
    invited = [str(user_id) for user_id in invited_participant_ids]
    access = await session.get(SessionAccess, session_id)
    if access is None:
        access = SessionAccess(
            session_id=session_id,
            appointment_id=appointment_id,
            clinician_id=clinician_id,
            client_id=client_id,
            starts_at=starts_at,
            ends_at=ends_at,
            max_participants=max_participants,
            invited_participant_ids=invited,
        )
    else:
        access.appointment_id = appointment_id
        access.clinician_id = clinician_id
        access.client_id = client_id
        access.starts_at = starts_at
        access.ends_at = ends_at
        access.max_participants = max_participants
        access.invited_participant_ids = invited
    session.add(access)
    return access


async def mark_call_connected(session: AsyncSession, session_id: uuid.UUID, at: datetime) -> None:
    """Remember that the session's call connected (the first time only)."""
    await session.exec(
        update(SessionAccess)
        .where(col(SessionAccess.session_id) == session_id)
        .where(col(SessionAccess.call_connected_at).is_(None))
        .values(call_connected_at=at)
    )


async def mark_started(session: AsyncSession, session_id: uuid.UUID, at: datetime) -> None:
    """Remember that the session started (the first time only)."""
    await session.exec(
        update(SessionAccess)
        .where(col(SessionAccess.session_id) == session_id)
        .where(col(SessionAccess.started_at).is_(None))
        .values(started_at=at)
    )


async def mark_ended(
    session: AsyncSession, session_id: uuid.UUID, *, at: datetime, ended_by: uuid.UUID | None
) -> None:
    """Remember that the session ended (``ended_by`` None: nobody did, the room stayed
    empty), so later joins are refused."""
    await session.exec(
        update(SessionAccess)
        .where(col(SessionAccess.session_id) == session_id)
        .values(ended_at=at, ended_by=ended_by)
    )


async def mark_cancelled(session: AsyncSession, session_id: uuid.UUID, at: datetime) -> None:
    """Record that the session's appointment was cancelled (no-op for an unknown session)."""
    access = await session.get(SessionAccess, session_id)
    if access is not None and access.cancelled_at is None:
        access.cancelled_at = at
        session.add(access)


async def add_guest(
    session: AsyncSession, session_id: uuid.UUID, clinician_id: uuid.UUID, guest_id: uuid.UUID
) -> bool:
    """Put a guest on the session's roster if ``clinician_id`` is the session's clinician;
    whether the session (known here) accepted the guest."""
    access = await session.get(SessionAccess, session_id, with_for_update=True)
    if access is None or access.clinician_id != clinician_id:
        return False
    if str(guest_id) not in access.guest_ids:
        access.guest_ids = [*access.guest_ids, str(guest_id)]
        session.add(access)
    return True


async def remove_guest(session: AsyncSession, session_id: uuid.UUID, guest_id: uuid.UUID) -> None:
    """Take a guest off the session's roster (no-op when not on it)."""
    access = await session.get(SessionAccess, session_id, with_for_update=True)
    if access is not None and str(guest_id) in access.guest_ids:
        access.guest_ids = [g for g in access.guest_ids if g != str(guest_id)]
        session.add(access)


async def current_consent_version(session: AsyncSession) -> int | None:
    """The highest consent version published, or None while the clinic has published none."""
    result = await session.exec(select(func.max(ConsentVersion.version)))
    return result.one()


async def save_consent_version(session: AsyncSession, document_id: uuid.UUID, version: int) -> None:
    if await session.get(ConsentVersion, document_id) is None:
        session.add(ConsentVersion(document_id=document_id, version=version))


async def get_client_consent(session: AsyncSession, client_id: uuid.UUID) -> ClientConsent | None:
    return await session.get(ClientConsent, client_id)


async def save_client_consent(
    session: AsyncSession,
    *,
    client_id: uuid.UUID,
    signature_id: uuid.UUID,
    version: int,
    withdrawn_at: datetime | None,
) -> None:
    """Remember the client's latest signature (events of a client arrive in order)."""
    consent = await session.get(ClientConsent, client_id)
    if consent is None:
        consent = ClientConsent(client_id=client_id, signature_id=signature_id, version=version)
    consent.signature_id = signature_id
    consent.version = version
    consent.withdrawn_at = withdrawn_at
    session.add(consent)
