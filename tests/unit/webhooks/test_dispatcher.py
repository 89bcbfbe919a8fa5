"""The dispatcher against a real HTTP receiver: signed, retried, every attempt stored."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from typing import Any

import httpx

from services.webhooks.destinations import DestinationPolicy
from services.webhooks.dispatcher import Dispatcher
from services.webhooks.events import build_router
from services.webhooks.models import Delivery
from services.webhooks.service import DueDelivery, RetryPolicy
from shared.events.catalog import Payload
from shared.events.envelope import Envelope
from tests.support.waiting import HANG_SECONDS, until
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import (
    Receiver,
    RunningService,
    StartService,
    envelope_of,
)

# A poll interval no test run lasts: a delivery sent at all was sent because of a wake.
NEVER_SECONDS = 24 * 3600.0


async def publish(webhooks: RunningService, payload: Payload) -> Envelope:
    """Apply the event as the consumer would: in a unit of work, whose commit wakes sending."""
    envelope = envelope_of(payload)
    async with webhooks.database.unit_of_work() as session:
        await build_router().dispatch(session, envelope)
    return envelope


async def delivery_log(webhooks: RunningService, endpoint_id: str) -> list[dict[str, Any]]:
    response = await webhooks.http.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=webhooks.auth()
    )
    assert response.status_code == 200, response.text
    log: list[dict[str, Any]] = response.json()
    return log


async def wait_for_status(
    webhooks: RunningService, endpoint_id: str, status: str
) -> dict[str, Any]:
    async def reached() -> bool:
        log = await delivery_log(webhooks, endpoint_id)
        return bool(log) and log[0]["status"] == status

    await until(reached, f"the newest delivery is {status}")
    return (await delivery_log(webhooks, endpoint_id))[0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_delivery_arrives_signed_and_is_logged(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("partner"), ["session.*"])
    receiver.secrets["partner"] = endpoint["secret"]
    payload = factories.session_completed()

    envelope = await publish(webhooks, payload)
    delivery = await wait_for_status(webhooks, endpoint["id"], "delivered")

    (request,) = receiver.requests_to("partner")
    assert request.signature_valid is True
    assert request.headers["webhook-id"] == delivery["id"]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-signature"].startswith("v1,")
    assert json.loads(request.body) == {
        "type": "session.completed",
        "timestamp": envelope.time.isoformat().replace("+00:00", "Z"),
        "aggregate_id": str(payload.session_id),
        "sequence": 1,
        "data": payload.data(),
    }
    assert delivery["event_id"] == envelope.id
    assert delivery["attempt_count"] == 1
    assert delivery["next_attempt_at"] is None
    assert delivery["delivered_at"] is not None
    (attempt,) = delivery["attempts"]
    assert attempt["status_code"] == 200
    assert attempt["error"] is None
    assert attempt["at"] is not None
    assert attempt["duration_ms"] >= 0


async def test_a_failed_attempt_is_retried_with_the_same_webhook_id(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("flaky"), ["*"])
    receiver.secrets["flaky"] = endpoint["secret"]
    receiver.statuses["flaky"] = [500]

    await publish(webhooks, factories.session_completed())
    delivery = await wait_for_status(webhooks, endpoint["id"], "delivered")

    first, second = receiver.requests_to("flaky")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery["id"]
    assert first.signature_valid and second.signature_valid
    assert first.body == second.body
    assert delivery["attempt_count"] == 2
    assert [(a["attempt_number"], a["status_code"]) for a in delivery["attempts"]] == [
        (1, 500),
        (2, 200),
    ]


async def test_a_delivery_fails_once_the_retry_schedule_is_spent(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(retry_schedule_seconds=[0.05, 0.05])
    endpoint = await webhooks.register(receiver.url("down"), ["*"])
    receiver.statuses["down"] = [503] * 10

    await publish(webhooks, factories.session_completed())
    delivery = await wait_for_status(webhooks, endpoint["id"], "failed")
    await asyncio.sleep(0.3)  # room for a (wrong) fourth attempt to show up

    assert len(receiver.requests_to("down")) == 3
    assert delivery["attempt_count"] == 3
    assert delivery["next_attempt_at"] is None
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 503, 503]


async def test_an_unreachable_endpoint_gets_its_errors_logged(
    start_service: StartService,
) -> None:
    webhooks = await start_service(retry_schedule_seconds=[0.05])
    endpoint = await webhooks.register(f"http://127.0.0.1:{closed_port()}/hooks", ["*"])

    await publish(webhooks, factories.session_completed())
    delivery = await wait_for_status(webhooks, endpoint["id"], "failed")

    assert [a["status_code"] for a in delivery["attempts"]] == [None, None]
    assert all(a["error"] and "ConnectError" in a["error"] for a in delivery["attempts"])


async def test_new_deliveries_are_sent_at_once_not_at_the_next_poll(
    start_service: StartService, receiver: Receiver
) -> None:
    # The poll never comes round while the test runs, so the dispatcher can only send when
    # woken: by the new delivery's commit, and (the retry being due 0.5 s after the failure,
    # after the failure's own commit has woken it) by a wake timed for the retry.
    webhooks = await start_service(
        dispatcher_poll_seconds=NEVER_SECONDS, retry_schedule_seconds=[0.5]
    )
    endpoint = await webhooks.register(receiver.url("prompt"), ["*"])
    receiver.statuses["prompt"] = [500]
    await asyncio.sleep(0.1)  # the dispatcher's first cycle has run and it is now idle

    await publish(webhooks, factories.appointment_scheduled())

    delivery = await wait_for_status(webhooks, endpoint["id"], "delivered")
    assert delivery["attempt_count"] == 2


async def test_a_slow_endpoint_does_not_hold_up_the_others(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(delivery_timeout_seconds=HANG_SECONDS)
    slow = await webhooks.register(receiver.url("slow"), ["*"])
    fast = await webhooks.register(receiver.url("fast"), ["*"])
    # The slow endpoint takes the request and answers only when the test lets it.
    receiver.holds["slow"] = asyncio.Event()

    await publish(webhooks, factories.goal_updated())
    await wait_for_status(webhooks, fast["id"], "delivered")

    assert len(receiver.requests_to("slow")) == 1
    (still_sending,) = await delivery_log(webhooks, slow["id"])
    assert still_sending["status"] == "pending"
    assert still_sending["attempts"] == []
    receiver.holds["slow"].set()
    await wait_for_status(webhooks, slow["id"], "delivered")


async def test_deleting_an_endpoint_stops_its_retries(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(retry_schedule_seconds=[60.0])
    endpoint = await webhooks.register(receiver.url("gone"), ["*"])
    receiver.statuses["gone"] = [500]
    await publish(webhooks, factories.session_completed())

    async def attempted_once() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return bool(log) and log[0]["attempt_count"] == 1

    await until(attempted_once, "the first attempt is recorded")
    pending = (await delivery_log(webhooks, endpoint["id"]))[0]
    assert (pending["status"], pending["next_attempt_at"] is not None) == ("pending", True)
    deleted = await webhooks.http.delete(
        f"/v1/webhook-endpoints/{endpoint['id']}", headers=webhooks.auth()
    )
    assert deleted.status_code == 204

    async with webhooks.database.unit_of_work() as session:
        delivery = await session.get(Delivery, pending["id"])
    assert delivery is not None
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)


async def test_the_log_filters_by_status(start_service: StartService, receiver: Receiver) -> None:
    webhooks = await start_service(retry_schedule_seconds=[])
    endpoint = await webhooks.register(receiver.url("mixed"), ["*"])
    receiver.statuses["mixed"] = [500]
    await publish(webhooks, factories.session_completed())
    await wait_for_status(webhooks, endpoint["id"], "failed")
    await publish(webhooks, factories.session_completed())
    await wait_for_status(webhooks, endpoint["id"], "delivered")

    url = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    failed = (await webhooks.http.get(f"{url}?status=failed", headers=webhooks.auth())).json()
    delivered = (await webhooks.http.get(f"{url}?status=delivered", headers=webhooks.auth())).json()
    bad_filter = await webhooks.http.get(f"{url}?status=lost", headers=webhooks.auth())

    assert [d["status"] for d in failed] == ["failed"]
    assert [d["status"] for d in delivered] == ["delivered"]
    assert failed[0]["id"] != delivered[0]["id"]
    assert bad_filter.status_code == 422


async def test_private_destinations_are_refused_again_when_sending(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(background=False)
    async with httpx.AsyncClient() as client:
        strict = Dispatcher(
            webhooks.database,
            client,
            destinations=DestinationPolicy(allow_private=False),
            box=webhooks.app.state.secret_box,
            retry_policy=RetryPolicy(schedule=[]),
            timeout_seconds=2.0,
        )
        outcome = await strict.attempt(
            DueDelivery(
                delivery_id="msg_test",
                endpoint_id=uuid.uuid4(),
                url=receiver.url("internal"),
                secrets=["whsec_" + "A" * 44],
                message={"type": "session.completed", "timestamp": "", "data": {}},
                attempt_number=1,
            )
        )

    assert outcome.status_code is None
    assert outcome.error is not None and outcome.error.startswith("refused:")
    assert receiver.received == []


async def test_an_idle_dispatcher_does_not_spin(start_service: StartService) -> None:
    webhooks = await start_service(dispatcher_poll_seconds=60.0)
    await webhooks.register("http://127.0.0.1:9/hooks", ["*"])
    await asyncio.sleep(0.2)
    cycles = 0
    claim = webhooks.dispatcher.dispatch_due

    async def counted() -> int:
        nonlocal cycles
        cycles += 1
        return await claim()

    webhooks.dispatcher.dispatch_due = counted  # type: ignore[method-assign]
    for _ in range(3):  # reads through the API commit too; they may wake it once each
        await webhooks.http.get("/v1/webhook-endpoints", headers=webhooks.auth())
    await asyncio.sleep(0.5)

    assert cycles <= 3


async def test_stopping_waits_for_the_attempt_in_flight_and_records_it(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(background=False)
    endpoint = await webhooks.register(receiver.url("slowish"), ["*"])
    receiver.delays["slowish"] = 0.3
    await publish(webhooks, factories.session_completed())
    async with httpx.AsyncClient() as client:
        dispatcher = Dispatcher(
            webhooks.database,
            client,
            destinations=DestinationPolicy(allow_private=True),
            box=webhooks.app.state.secret_box,
            retry_policy=RetryPolicy(schedule=[60.0]),
            timeout_seconds=5.0,
        )
        running = asyncio.create_task(dispatcher.run())
        await asyncio.wait_for(receiver.arrived.wait(), 5.0)
        dispatcher.stop()
        await asyncio.wait_for(running, 5.0)

    (delivery,) = await delivery_log(webhooks, endpoint["id"])
    assert delivery["status"] == "delivered"
    assert [a["status_code"] for a in delivery["attempts"]] == [200]
