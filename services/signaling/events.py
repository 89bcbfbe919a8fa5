"""The events signaling consumes: appointments tell it who may join which session, and when;
identity's guest links add guests to a session and take them off; consent tells it whether the
session's client has signed what the clinic requires.

(Identity's revocations are read by every process, not by this consumer group: see
:mod:`shared.events.revocations`.)"""

from __future__ import annotations

from services.signaling import service
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentScheduled,
    ConsentDocumentPublished,
    ConsentSigned,
    ConsentWithdrawn,
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
    # The clinic's consent: a client joins once they have signed its current version.
    router.on(ConsentDocumentPublished, service.record_consent_version)
    router.on(ConsentSigned, service.record_consent)
    router.on(ConsentWithdrawn, service.record_consent)
    return router
