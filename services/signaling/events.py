"""The events signaling consumes: appointments tell it who may join which session, and when;
identity's guest links add guests to a session and take them off.

(Identity's revocations are read by every process, not by this consumer group: see
:mod:`shared.events.revocations`.)"""

from __future__ import annotations

from services.signaling import service
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentScheduled,
    SessionGuestInvited,
    SessionGuestRevoked,
)
from shared.events.kafka import EventRouter


def build_router() -> EventRouter:
    """The handlers of signaling's consumer group (``signaling``)."""
    router = EventRouter()
    # A scheduled or moved appointment: joins check its clinician, roster and time slot.
    router.on(AppointmentScheduled, service.record_appointment)
    router.on(AppointmentRescheduled, service.record_appointment)
    # A cancelled one: joins to its session are refused from now on.
    router.on(AppointmentCancelled, service.record_cancellation)
    # A clinician's guest (identity's guest links): on the roster until revoked.
    router.on(SessionGuestInvited, service.record_guest_invited)
    router.on(SessionGuestRevoked, service.record_guest_revoked)
    return router
