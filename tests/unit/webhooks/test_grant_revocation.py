"""A clinician revokes a partner app's access: its endpoints get none of their events any more,
pending deliveries of them stop, and none is replayed; other clinicians' events still flow."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from services.webhooks.events import build_router
from services.webhooks.models import Delivery, DeliveryStatus
from shared.events.catalog import PartnerAccessGranted, PartnerAccessRevoked, Payload
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import RunningService, StartService, envelope_of

PARTNER = "pa_revocation"


async def consume(webhooks: RunningService, payload: Payload) -> None:
    async with webhooks.database.unit_of_work() as session:
        await build_router().dispatch(session, envelope_of(payload))


async def deliveries_to(webhooks: RunningService, endpoint_id: str) -> list[Delivery]:
    async with webhooks.database.unit_of_work() as session:
        rows = await session.exec(
            select(Delivery).where(Delivery.endpoint_id == uuid.UUID(endpoint_id))
        )
        return list(rows.all())


def granted(clinician_id: uuid.UUID) -> PartnerAccessGranted:
    return PartnerAccessGranted(
        client_id=PARTNER, clinician_id=clinician_id, granted_at=datetime.now(UTC)
    )


def revoked(clinician_id: uuid.UUID) -> PartnerAccessRevoked:
    return PartnerAccessRevoked(
        client_id=PARTNER, clinician_id=clinician_id, revoked_at=datetime.now(UTC)
    )


async def partner_endpoint(webhooks: RunningService) -> tuple[dict[str, str], str]:
    auth = webhooks.auth(role="partner", scopes="webhooks:manage", subject=PARTNER)
    endpoint = await webhooks.register("http://127.0.0.1:9/partner", ["*"], auth)
    return auth, endpoint["id"]


async def test_after_a_revocation_the_clinicians_new_events_are_not_delivered(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    _, endpoint = await partner_endpoint(webhooks)
    leaving, staying = factories.session_completed(), factories.session_completed()
    await consume(webhooks, granted(leaving.clinician_id))
    await consume(webhooks, granted(staying.clinician_id))

    await consume(webhooks, revoked(leaving.clinician_id))
    await consume(webhooks, leaving)
    await consume(webhooks, staying)

    delivered = await deliveries_to(webhooks, endpoint)
    assert [d.payload["data"]["session_id"] for d in delivered] == [str(staying.session_id)]


async def test_a_revocation_stops_pending_deliveries_of_that_clinicians_events_only(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    _, endpoint = await partner_endpoint(webhooks)
    clinic = await webhooks.register("http://127.0.0.1:9/clinic", ["*"])
    leaving, staying = factories.session_completed(), factories.session_completed()
    await consume(webhooks, granted(leaving.clinician_id))
    await consume(webhooks, granted(staying.clinician_id))
    await consume(webhooks, leaving)
    await consume(webhooks, staying)

    await consume(webhooks, revoked(leaving.clinician_id))

    status = {
        d.payload["data"]["session_id"]: d.status for d in await deliveries_to(webhooks, endpoint)
    }
    assert status == {
        str(leaving.session_id): DeliveryStatus.FAILED,
        str(staying.session_id): DeliveryStatus.PENDING,
    }
    # The clinic's own endpoint is not a partner's: revocations do not touch it.
    assert {d.status for d in await deliveries_to(webhooks, clinic["id"])} == {
        DeliveryStatus.PENDING
    }


async def test_a_message_about_a_revoked_clinician_is_not_replayed(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    auth, endpoint = await partner_endpoint(webhooks)
    leaving, staying = factories.session_completed(), factories.session_completed()
    await consume(webhooks, granted(leaving.clinician_id))
    await consume(webhooks, granted(staying.clinician_id))
    await consume(webhooks, leaving)
    await consume(webhooks, staying)
    async with webhooks.database.unit_of_work() as session:
        for delivery in (await session.exec(select(Delivery))).all():
            delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED, None
            session.add(delivery)
    await consume(webhooks, revoked(leaving.clinician_id))
    by_session = {
        d.payload["data"]["session_id"]: d.id for d in await deliveries_to(webhooks, endpoint)
    }
    base = f"/v1/webhook-endpoints/{endpoint}"

    one = await webhooks.http.post(
        f"{base}/deliveries/{by_session[str(leaving.session_id)]}/replay", headers=auth
    )
    since = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    bulk = await webhooks.http.post(f"{base}/replay-failed", json={"since": since}, headers=auth)

    assert one.status_code == 403
    assert one.json()["error"] == "ClinicianAccessRevoked"
    assert bulk.status_code == 202, bulk.text
    assert bulk.json()["replayed"] == [by_session[str(staying.session_id)]]


async def test_granting_again_after_a_revocation_opens_the_events_again(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False)
    _, endpoint = await partner_endpoint(webhooks)
    first, second = factories.session_completed(), factories.session_completed()
    second = second.model_copy(update={"clinician_id": first.clinician_id})
    await consume(webhooks, granted(first.clinician_id))
    await consume(webhooks, revoked(first.clinician_id))
    await consume(webhooks, first)
    await consume(webhooks, granted(first.clinician_id))
    await consume(webhooks, second)

    delivered = await deliveries_to(webhooks, endpoint)
    assert [d.payload["data"]["session_id"] for d in delivered] == [str(second.session_id)]
