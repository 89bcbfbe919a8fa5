"""What records consumes: registered users, accepted invitations, partner grants and their
revocations, session guests (identity), and what signaling reports about each session.

Handlers are entry points like HTTP handlers: they run inside the consumer's unit of work
(one per batch, together with the inbox ids). Each consumed event goes straight to the
service function that applies it, which takes ``(session, event)`` as every handler does.
"""

from __future__ import annotations

from functools import partial

from services.records import grants, partnership, sessions
from services.records.sessions import BillingTable
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
    SessionGuestInvited,
    SessionGuestRevoked,
    UserRegistered,
)
from shared.events.kafka import EventRouter


def build_router(billing: BillingTable | None = None) -> EventRouter:
    """The handlers of records' consumer group (``records``); a completed session is billed by
    ``billing`` (the settings' defaults when not given)."""
    billing = billing or BillingTable.standard()
    router = EventRouter()
    # identity: who exists, who is in a care relationship, which partner apps may read.
    router.on(UserRegistered, sessions.register_user)
    router.on(InvitationAccepted, partnership.link_invited_client)
    router.on(PartnerAccessGranted, grants.note_partner_grant)
    router.on(PartnerAccessRevoked, grants.note_partner_revocation)
    # Guests a session's clinician invited: their relationship goes on its attendance.
    router.on(SessionGuestInvited, sessions.note_guest_invited)
    router.on(SessionGuestRevoked, sessions.note_guest_revoked)
    # signaling: what happened in each session, in any order and possibly more than once.
    router.on(ParticipantCheckedIn, partial(sessions.note_check_in, billing=billing))
    router.on(ParticipantAdmitted, partial(sessions.note_admission, billing=billing))
    router.on(ParticipantJoined, partial(sessions.note_join, billing=billing))
    router.on(ParticipantLeft, partial(sessions.note_leave, billing=billing))
    router.on(CallConnected, partial(sessions.note_call_connected, billing=billing))
    router.on(CallQuality, sessions.note_call_quality)
    router.on(SessionEnded, partial(sessions.close_session, billing=billing))
    router.on(GoalProgressShared, sessions.record_shared_progress)
    return router
