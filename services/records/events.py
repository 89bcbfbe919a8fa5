"""What records consumes: registered users, accepted invitations, partner grants and their
revocations (identity), and what signaling reports about each session.

Handlers are entry points like HTTP handlers: they run inside the consumer's unit of work
(one per batch, together with the inbox ids) and hand the payload to the service.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import service
from shared.events.catalog import (
    CallConnected,
    CallQuality,
    GoalProgressShared,
    InvitationAccepted,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    PartnerAccessGranted,
    PartnerAccessRevoked,
    SessionEnded,
    UserRegistered,
)
from shared.events.envelope import Envelope
from shared.events.kafka import EventRouter

router = EventRouter()


@router.on(UserRegistered)
async def user_registered(db: AsyncSession, event: UserRegistered, _: Envelope) -> None:
    """Add the user to records' projection of who exists and in which role."""
    await service.register_user(db, event)


@router.on(InvitationAccepted)
async def invitation_accepted(db: AsyncSession, event: InvitationAccepted, _: Envelope) -> None:
    """A client accepted a clinician's invitation: the two are in a care relationship."""
    await service.link_invited_client(db, event)


@router.on(PartnerAccessRevoked)
async def partner_access_revoked(
    db: AsyncSession, event: PartnerAccessRevoked, _: Envelope
) -> None:
    """A clinician revoked a partner app: its tokens issued until now lose that clinician."""
    await service.note_partner_revocation(db, event)


@router.on(PartnerAccessGranted)
async def partner_access_granted(
    db: AsyncSession, event: PartnerAccessGranted, _: Envelope
) -> None:
    """A clinician granted a partner app access (perhaps again after revoking it)."""
    await service.note_partner_grant(db, event)


@router.on(ParticipantCheckedIn)
async def participant_checked_in(
    db: AsyncSession, event: ParticipantCheckedIn, _: Envelope
) -> None:
    """A participant entered the waiting room."""
    await service.note_check_in(db, event)


@router.on(ParticipantAdmitted)
async def participant_admitted(db: AsyncSession, event: ParticipantAdmitted, _: Envelope) -> None:
    """The clinician admitted a participant."""
    await service.note_admission(db, event)


@router.on(ParticipantJoined)
async def participant_joined(db: AsyncSession, event: ParticipantJoined, _: Envelope) -> None:
    """A participant joined the call."""
    await service.note_join(db, event)


@router.on(ParticipantLeft)
async def participant_left(db: AsyncSession, event: ParticipantLeft, _: Envelope) -> None:
    """A participant left the call."""
    await service.note_leave(db, event)


@router.on(CallConnected)
async def call_connected(db: AsyncSession, event: CallConnected, _: Envelope) -> None:
    """The peers' media connected."""
    await service.note_call_connected(db, event)


@router.on(CallQuality)
async def call_quality(db: AsyncSession, event: CallQuality, _: Envelope) -> None:
    """A participant's connection-quality sample."""
    await service.note_call_quality(db, event)


@router.on(SessionEnded)
async def session_ended(db: AsyncSession, event: SessionEnded, _: Envelope) -> None:
    """The session ended: complete its record."""
    await service.close_session(db, event)


@router.on(GoalProgressShared)
async def goal_progress_shared(db: AsyncSession, event: GoalProgressShared, _: Envelope) -> None:
    """The clinician shared progress on a goal during the call."""
    await service.record_shared_progress(db, event)
