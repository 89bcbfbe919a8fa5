"""What records consumes: registered users, accepted invitations, partner grants and their
revocations (identity), and what signaling reports about each session.

Handlers are entry points like HTTP handlers: they run inside the consumer's unit of work
(one per batch, together with the inbox ids). Each consumed event goes straight to the
service function that applies it, which takes ``(session, event)`` as every handler does.
"""

from __future__ import annotations

from services.records import partnership, service
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
from shared.events.kafka import EventRouter


def build_router() -> EventRouter:
    """The handlers of records' consumer group (``records``)."""
    router = EventRouter()
    # identity: who exists, who is in a care relationship, which partner apps may read.
    router.on(UserRegistered, service.register_user)
    router.on(InvitationAccepted, partnership.link_invited_client)
    router.on(PartnerAccessGranted, service.note_partner_grant)
    router.on(PartnerAccessRevoked, service.note_partner_revocation)
    # signaling: what happened in each session, in any order and possibly more than once.
    router.on(ParticipantCheckedIn, service.note_check_in)
    router.on(ParticipantAdmitted, service.note_admission)
    router.on(ParticipantJoined, service.note_join)
    router.on(ParticipantLeft, service.note_leave)
    router.on(CallConnected, service.note_call_connected)
    router.on(CallQuality, service.note_call_quality)
    router.on(SessionEnded, service.close_session)
    router.on(GoalProgressShared, service.record_shared_progress)
    return router
