"""What records consumes: registered users, accepted invitations, partner grants and their
revocations (identity), and what signaling reports about each session.

Handlers are entry points like HTTP handlers: they run inside the consumer's unit of work
(one per batch, together with the inbox ids). Each consumed event goes straight to the
service function that applies it, which takes ``(session, event)`` as every handler does.
"""

from __future__ import annotations

from services.records import grants, partnership, sessions
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
    router.on(UserRegistered, sessions.register_user)
    router.on(InvitationAccepted, partnership.link_invited_client)
    router.on(PartnerAccessGranted, grants.note_partner_grant)
    router.on(PartnerAccessRevoked, grants.note_partner_revocation)
    # signaling: what happened in each session, in any order and possibly more than once.
    router.on(ParticipantCheckedIn, sessions.note_check_in)
    router.on(ParticipantAdmitted, sessions.note_admission)
    router.on(ParticipantJoined, sessions.note_join)
    router.on(ParticipantLeft, sessions.note_leave)
    router.on(CallConnected, sessions.note_call_connected)
    router.on(CallQuality, sessions.note_call_quality)
    router.on(SessionEnded, sessions.close_session)
    router.on(GoalProgressShared, sessions.record_shared_progress)
    return router
