"""A partner app's endpoints receive only events about clinicians who granted it access."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import select

from services.webhooks import service
from services.webhooks.events import build_router
from services.webhooks.models import Delivery
from shared.events.catalog import ParticipantJoined, PartnerAccessGranted, Payload
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import RunningService, StartService, envelope_of


async def consume(webhooks: RunningService, payload: Payload) -> None:
    async with webhooks.database.unit_of_work() as session:
        await build_router().dispatch(session, envelope_of(payload))


async def deliveries_to(webhooks: RunningService, endpoint_id: str) -> list[Delivery]:
    async with webhooks.database.unit_of_work() as session:
        rows = await session.exec(
            select(Delivery).where(Delivery.endpoint_id == uuid.UUID(endpoint_id))
        )
        return list(rows.all())


async def grant(webhooks: RunningService, owner_id: str, clinician_id: uuid.UUID) -> None:
    async with webhooks.database.unit_of_work() as session:
        await service.grant_access(
            session, owner_id=owner_id, clinician_id=clinician_id, at=datetime.now(UTC)
        )


async def test_partner_endpoints_get_only_their_grantors_events_and_clinic_endpoints_all(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    partner = webhooks.auth(role="client", scopes="webhooks:manage", subject="partner-app-1")
    partners = await webhooks.register("http://127.0.0.1:9/partner", ["*"], partner)
    clinics = await webhooks.register("http://127.0.0.1:9/clinic", ["*"])
    granted, other = factories.appointment_scheduled(), factories.appointment_scheduled()
    await grant(webhooks, "partner-app-1", granted.clinician_id)

    await consume(webhooks, granted)
    await consume(webhooks, other)
    # Signaling events name only the session: its clinician comes from appointment.scheduled.
    for appointment in (granted, other):
        await consume(
            webhooks,
            ParticipantJoined(
                session_id=appointment.session_id,
                user_id=appointment.client_id,
                role="client",
                at=datetime.now(UTC),
            ),
        )

    to_partner = await deliveries_to(webhooks, partners["id"])
    to_clinic = await deliveries_to(webhooks, clinics["id"])
    assert (
        sorted(d.payload["data"]["session_id"] for d in to_partner) == [str(granted.session_id)] * 2
    )
    assert len(to_clinic) == 4


async def test_without_a_grant_a_partner_endpoint_receives_nothing(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    partner = webhooks.auth(role="clinician", scopes="webhooks:manage", subject="partner-app-2")
    endpoint = await webhooks.register("http://127.0.0.1:9/partner", ["*"], partner)
    payload = factories.session_completed()
    await grant(webhooks, "partner-app-2", payload.clinician_id)
    async with webhooks.database.unit_of_work() as session:
        await service.revoke_access(
            session, owner_id="partner-app-2", clinician_id=payload.clinician_id
        )

    await consume(webhooks, payload)

    assert await deliveries_to(webhooks, endpoint["id"]) == []


async def test_a_grant_published_by_identity_opens_the_clinicians_events_to_the_partner(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    partner = webhooks.auth(role="client", scopes="webhooks:manage", subject="partner-app-3")
    endpoint = await webhooks.register("http://127.0.0.1:9/partner", ["*"], partner)
    before, after = factories.session_completed(), factories.session_completed()
    after = after.model_copy(update={"clinician_id": before.clinician_id})

    await consume(webhooks, before)  # no grant yet: nothing for the partner
    await consume(
        webhooks,
        PartnerAccessGranted(
            client_id="partner-app-3",
            clinician_id=before.clinician_id,
            granted_at=datetime.now(UTC),
        ),
    )
    await consume(webhooks, after)

    delivered = await deliveries_to(webhooks, endpoint["id"])
    assert [d.payload["data"]["session_id"] for d in delivered] == [str(after.session_id)]


async def test_reminders_reach_a_partner_only_for_its_grantors_and_a_clinic_always(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    partner = webhooks.auth(role="client", scopes="webhooks:manage", subject="partner-app-3")
    partners = await webhooks.register(
        "http://127.0.0.1:9/partner", ["appointment.reminder_due"], partner
    )
    clinics = await webhooks.register("http://127.0.0.1:9/clinic", ["appointment.*"])
    granted, other = factories.appointment_reminder_due(), factories.appointment_reminder_due()
    await grant(webhooks, "partner-app-3", granted.clinician_id)

    await consume(webhooks, granted)
    await consume(webhooks, other)

    to_partner = await deliveries_to(webhooks, partners["id"])
    to_clinic = await deliveries_to(webhooks, clinics["id"])
    assert [d.payload["data"]["appointment_id"] for d in to_partner] == [
        str(granted.appointment_id)
    ]
    assert {d.payload["type"] for d in to_partner} == {"appointment.reminder_due"}
    assert sorted(d.payload["data"]["appointment_id"] for d in to_clinic) == sorted(
        [str(granted.appointment_id), str(other.appointment_id)]
    )
