"""The dispatcher claims deliveries ahead, in batches, into a queue per endpoint: never more
than the endpoint's concurrency limit in flight, and nothing sent that was revoked, disabled
or deleted while it waited in that queue."""

from __future__ import annotations

import asyncio
import uuid

from sqlmodel import col, select

from services.webhooks.models import Delivery, DeliveryStatus
from shared.db import utc_now
from tests.support.waiting import HANG_SECONDS
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import Receiver, RunningService, StartService, eventually
from tests.unit.webhooks.test_dispatcher import delivery_log, publish
from tests.unit.webhooks.test_grant_revocation import PARTNER, consume, granted, revoked


async def leased(webhooks: RunningService, endpoint_id: str) -> int:
    async with webhooks.database.unit_of_work() as session:
        rows = await session.exec(
            select(Delivery).where(
                Delivery.endpoint_id == uuid.UUID(endpoint_id),
                col(Delivery.leased_until).is_not(None),
            )
        )
        return len(rows.all())


async def test_a_batch_claimed_ahead_never_puts_more_than_the_limit_in_flight(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(max_concurrent_deliveries_per_endpoint=2)
    endpoint = await webhooks.register(receiver.url("held"), ["*"])
    hold = receiver.holds["held"] = asyncio.Event()
    for _ in range(10):
        await publish(webhooks, factories.session_completed())

    async def claimed_ahead() -> bool:
        # More claimed than may be in flight, the two slots taken, the rest waiting.
        return (
            await leased(webhooks, endpoint["id"]) > 2
            and webhooks.dispatcher.in_flight == 2
            and webhooks.dispatcher.waiting > 0
        )

    await eventually(claimed_ahead)
    assert len(receiver.requests_to("held")) == 2
    assert receiver.peak_in_progress["held"] == 2

    hold.set()

    async def all_delivered() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return len(log) == 10 and all(d["status"] == "delivered" for d in log)

    await eventually(all_delivered)
    assert receiver.peak_in_progress["held"] == 2
    assert len(receiver.requests_to("held")) == 10


async def partner_endpoint_at(webhooks: RunningService, url: str) -> str:
    auth = webhooks.auth(role="partner", scopes="webhooks:manage", subject=PARTNER)
    endpoint = await webhooks.register(url, ["*"], auth)
    return str(endpoint["id"])


async def test_a_claim_waiting_for_a_slot_is_not_sent_once_the_grant_is_revoked(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(max_concurrent_deliveries_per_endpoint=1)
    endpoint = await partner_endpoint_at(webhooks, receiver.url("partner"))
    clinician = uuid.uuid4()
    await consume(webhooks, granted(clinician))
    hold = receiver.holds["partner"] = asyncio.Event()
    for _ in range(3):
        completed = factories.session_completed().model_copy(update={"clinician_id": clinician})
        await consume(webhooks, completed)

    async def two_waiting() -> bool:
        # The first is being sent (held); the other two are claimed and wait for its slot.
        return await leased(webhooks, endpoint) == 3 and webhooks.dispatcher.waiting == 2

    await eventually(two_waiting)
    await consume(webhooks, revoked(clinician))  # committed before the slot frees up
    hold.set()

    async def settled() -> bool:
        log = await delivery_log(webhooks, endpoint)
        return (
            webhooks.dispatcher.in_flight == 0
            and webhooks.dispatcher.waiting == 0
            and any(d["status"] == "delivered" for d in log)
        )

    await eventually(settled)
    # Only the attempt already under way before the revocation reached the partner.
    assert len(receiver.requests_to("partner")) == 1
    async with webhooks.database.unit_of_work() as session:
        statuses = sorted(
            d.status
            for d in (
                await session.exec(
                    select(Delivery).where(Delivery.endpoint_id == uuid.UUID(endpoint))
                )
            ).all()
        )
    assert statuses == [DeliveryStatus.DELIVERED, DeliveryStatus.FAILED, DeliveryStatus.FAILED]


async def test_a_claim_waiting_for_a_slot_waits_while_its_endpoint_is_disabled(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(max_concurrent_deliveries_per_endpoint=1)
    endpoint = await webhooks.register(receiver.url("paused"), ["*"])
    base = f"/v1/webhook-endpoints/{endpoint['id']}"
    hold = receiver.holds["paused"] = asyncio.Event()
    for _ in range(3):
        await publish(webhooks, factories.session_completed())

    async def two_waiting() -> bool:
        return await leased(webhooks, endpoint["id"]) == 3 and webhooks.dispatcher.waiting == 2

    await eventually(two_waiting)
    disabled = await webhooks.http.post(f"{base}/disable", headers=webhooks.auth())
    assert disabled.status_code == 200, disabled.text
    hold.set()

    async def given_back() -> bool:
        return (
            webhooks.dispatcher.in_flight == 0
            and webhooks.dispatcher.waiting == 0
            and await leased(webhooks, endpoint["id"]) == 0
        )

    await eventually(given_back)
    assert len(receiver.requests_to("paused")) == 1

    enabled = await webhooks.http.post(f"{base}/enable", headers=webhooks.auth())
    assert enabled.status_code == 200, enabled.text

    async def all_delivered() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return len(log) == 3 and all(d["status"] == "delivered" for d in log)

    await eventually(all_delivered)
    assert len(receiver.requests_to("paused")) == 3


async def test_stopping_gives_back_the_claims_not_yet_sent(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(background=False, max_concurrent_deliveries_per_endpoint=1)
    endpoint = await webhooks.register(receiver.url("stopping"), ["*"])
    hold = receiver.holds["stopping"] = asyncio.Event()
    for _ in range(3):
        await publish(webhooks, factories.session_completed())
    dispatcher = webhooks.dispatcher
    running = asyncio.create_task(dispatcher.run())
    await eventually(lambda: _true(dispatcher.in_flight == 1 and dispatcher.waiting == 2))
    dispatcher.stop()
    hold.set()
    await asyncio.wait_for(running, HANG_SECONDS)

    # The one in flight was sent and recorded; the two waiting are due again, unleased, for
    # the next dispatcher to take at once rather than when their leases would have run out.
    async with webhooks.database.unit_of_work() as session:
        rows = (
            await session.exec(
                select(Delivery).where(Delivery.endpoint_id == uuid.UUID(endpoint["id"]))
            )
        ).all()
    assert sorted(d.status for d in rows) == ["delivered", "pending", "pending"]
    for row in rows:
        assert row.leased_until is None
        if row.status == "pending":
            assert row.next_attempt_at is not None and row.next_attempt_at <= utc_now()
    assert len(receiver.requests_to("stopping")) == 1


async def _true(value: bool) -> bool:
    return value
