"""Against a real receiver: 410, Retry-After, redirects, isolation, replay, test events, log."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import Receiver, RunningService, StartService, eventually
from tests.unit.webhooks.test_dispatcher import delivery_log, publish, wait_for_status


async def endpoint_view(webhooks: RunningService, endpoint_id: str) -> dict[str, Any]:
    response = await webhooks.http.get(
        f"/v1/webhook-endpoints/{endpoint_id}", headers=webhooks.auth()
    )
    assert response.status_code == 200, response.text
    view: dict[str, Any] = response.json()
    return view


async def test_410_gone_disables_the_endpoint_and_it_receives_nothing_more(
    start_service: StartService, receiver: Receiver
) -> None:
    """Nothing more is sent; what happens meanwhile is kept, paused, for when it is enabled."""
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("gone"), ["*"])
    receiver.statuses["gone"] = [410]

    await publish(webhooks, factories.session_completed())
    failed = await wait_for_status(webhooks, endpoint["id"], "failed")
    await publish(webhooks, factories.session_completed())
    view = await endpoint_view(webhooks, endpoint["id"])

    assert [a["status_code"] for a in failed["attempts"]] == [410]
    assert view["enabled"] is False
    assert "410" in view["disabled_reason"]
    kept, _ = await delivery_log(webhooks, endpoint["id"])
    assert (kept["status"], kept["attempt_count"], kept["next_attempt_at"]) == ("pending", 0, None)
    assert len(receiver.requests_to("gone")) == 1


async def test_retry_after_on_429_and_503_postpones_the_retry(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(retry_schedule_seconds=[0.05, 0.05])
    busy = await webhooks.register(receiver.url("busy"), ["*"])
    unavailable = await webhooks.register(receiver.url("down"), ["*"])
    receiver.statuses["busy"] = [429]
    receiver.headers["busy"] = {"retry-after": "120"}
    receiver.statuses["down"] = [503]
    receiver.headers["down"] = {"retry-after": "Fri, 31 Dec 2100 23:59:59 GMT"}

    await publish(webhooks, factories.session_completed())

    async def both_attempted() -> bool:
        logs = [await delivery_log(webhooks, e["id"]) for e in (busy, unavailable)]
        return all(log and log[0]["attempt_count"] == 1 for log in logs)

    await eventually(both_attempted)
    (waiting,) = await delivery_log(webhooks, busy["id"])
    (capped,) = await delivery_log(webhooks, unavailable["id"])

    attempted = datetime.fromisoformat(waiting["attempts"][0]["at"])
    next_at = datetime.fromisoformat(waiting["next_attempt_at"])
    assert waiting["status"] == "pending"
    assert next_at - attempted >= timedelta(seconds=120)
    # An HTTP-date far away is honoured only up to the operator's cap (24 h by default).
    capped_gap = datetime.fromisoformat(capped["next_attempt_at"]) - datetime.fromisoformat(
        capped["attempts"][0]["at"]
    )
    assert timedelta(hours=23) < capped_gap <= timedelta(hours=24, seconds=30)


async def test_redirects_are_not_followed(start_service: StartService, receiver: Receiver) -> None:
    webhooks = await start_service(retry_schedule_seconds=[])
    endpoint = await webhooks.register(receiver.url("moved"), ["*"])
    receiver.statuses["moved"] = [302]
    receiver.headers["moved"] = {"location": receiver.url("internal")}

    await publish(webhooks, factories.session_completed())
    failed = await wait_for_status(webhooks, endpoint["id"], "failed")

    assert [a["status_code"] for a in failed["attempts"]] == [302]
    assert receiver.requests_to("internal") == []


async def test_a_slow_endpoint_does_not_delay_a_healthy_one(
    start_service: StartService, receiver: Receiver
) -> None:
    # Four sending slots in all, two per endpoint; the slow endpoint's six messages come first.
    webhooks = await start_service(
        max_concurrent_deliveries=4,
        max_concurrent_deliveries_per_endpoint=2,
        delivery_timeout_seconds=3.0,
    )
    slow = await webhooks.register(receiver.url("slow"), ["session.*"])
    healthy = await webhooks.register(receiver.url("healthy"), ["appointment.*"])
    receiver.delays["slow"] = 60.0  # answers long after the timeout
    for _ in range(6):
        await publish(webhooks, factories.session_completed())
    for _ in range(6):
        await publish(webhooks, factories.appointment_scheduled())

    async def healthy_all_delivered() -> bool:
        log = await delivery_log(webhooks, healthy["id"])
        return len(log) == 6 and all(d["status"] == "delivered" for d in log)

    await eventually(healthy_all_delivered, within=10.0)

    # The slow endpoint's first attempts are all still waiting for an answer: the healthy
    # one did not wait for a single one of them to time out.
    slow_log = await delivery_log(webhooks, slow["id"])
    assert all(d["attempt_count"] == 0 for d in slow_log)
    assert len(receiver.requests_to("slow")) == 2
    assert webhooks.dispatcher.in_flight == 2


async def test_one_message_can_be_replayed_under_the_same_webhook_id(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("partner"), ["*"])
    await publish(webhooks, factories.session_completed())
    delivered = await wait_for_status(webhooks, endpoint["id"], "delivered")
    base = f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{delivered['id']}"

    replay = await webhooks.http.post(f"{base}/replay", headers=webhooks.auth())
    assert replay.status_code == 202, replay.text

    async def delivered_twice() -> bool:
        one = (await webhooks.http.get(base, headers=webhooks.auth())).json()
        return one["status"] == "delivered" and len(one["attempts"]) == 2

    await eventually(delivered_twice)
    first, second = receiver.requests_to("partner")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivered["id"]
    assert first.body == second.body
    missing = await webhooks.http.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/msg_nope", headers=webhooks.auth()
    )
    assert missing.status_code == 404
    assert missing.json()["error"] == "DeliveryNotFound"


async def test_a_pending_message_is_not_replayed(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(background=False)
    endpoint = await webhooks.register(receiver.url("partner"), ["*"])
    await publish(webhooks, factories.session_completed())
    (pending,) = await delivery_log(webhooks, endpoint["id"])

    replay = await webhooks.http.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries/{pending['id']}/replay",
        headers=webhooks.auth(),
    )

    assert replay.status_code == 409
    assert replay.json()["error"] == "DeliveryInProgress"


async def test_all_failed_messages_since_a_time_are_replayed(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service(retry_schedule_seconds=[])
    endpoint = await webhooks.register(receiver.url("flaky"), ["*"])
    receiver.statuses["flaky"] = [500, 500, 500]
    for _ in range(3):
        await publish(webhooks, factories.session_completed())

    async def all_failed() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return len(log) == 3 and all(d["status"] == "failed" for d in log)

    await eventually(all_failed)
    oldest = min(d["created_at"] for d in await delivery_log(webhooks, endpoint["id"]))
    replay = await webhooks.http.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/replay-failed",
        json={"since": oldest},
        headers=webhooks.auth(),
    )
    assert replay.status_code == 202, replay.text
    assert len(replay.json()["replayed"]) == 3

    async def all_delivered() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return all(d["status"] == "delivered" for d in log)

    await eventually(all_delivered)
    log = await delivery_log(webhooks, endpoint["id"])
    assert sorted([a["status_code"] for a in d["attempts"]] for d in log) == [[500, 200]] * 3
    # Nothing failed after "now": replaying since then finds nothing.
    later = await webhooks.http.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/replay-failed",
        json={"since": "2999-01-01T00:00:00Z"},
        headers=webhooks.auth(),
    )
    assert later.json()["replayed"] == []


async def test_a_test_event_is_sent_and_logged(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("partner"), ["session.completed"])

    sent = await webhooks.http.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/test", headers=webhooks.auth()
    )
    assert sent.status_code == 202, sent.text
    delivered = await wait_for_status(webhooks, endpoint["id"], "delivered")

    (request,) = receiver.requests_to("partner")
    body = json.loads(request.body)
    assert body["type"] == "endpoint.test"
    assert body["data"] == {"endpoint_id": endpoint["id"]}
    assert request.headers["webhook-id"] == delivered["id"] == sent.json()["id"]


async def test_endpoints_can_be_updated_disabled_and_enabled(
    start_service: StartService, receiver: Receiver
) -> None:
    webhooks = await start_service()
    endpoint = await webhooks.register(receiver.url("a"), ["session.*"])
    path = f"/v1/webhook-endpoints/{endpoint['id']}"

    updated = await webhooks.http.patch(
        path,
        json={"url": receiver.url("b"), "event_types": ["appointment.*"], "description": "EHR"},
        headers=webhooks.auth(),
    )
    assert updated.status_code == 200, updated.text
    assert (updated.json()["url"], updated.json()["event_types"]) == (
        receiver.url("b"),
        ["appointment.*"],
    )
    off = await webhooks.http.post(f"{path}/disable", headers=webhooks.auth())
    assert off.json()["enabled"] is False
    kept = await publish(webhooks, factories.appointment_scheduled())
    await asyncio.sleep(0.2)
    assert receiver.received == []  # a disabled endpoint is sent nothing...
    (paused,) = await delivery_log(webhooks, endpoint["id"])
    assert (paused["event_id"], paused["status"], paused["next_attempt_at"]) == (
        kept.id,
        "pending",
        None,
    )  # ...but what happens meanwhile is kept for it

    on = await webhooks.http.post(f"{path}/enable", headers=webhooks.auth())
    assert on.json()["enabled"] is True
    await publish(webhooks, factories.appointment_scheduled())

    async def both_delivered() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return len(log) == 2 and all(d["status"] == "delivered" for d in log)

    await eventually(both_delivered)
    assert [r.path for r in receiver.received] == ["b", "b"]
    bad = await webhooks.http.patch(path, json={"event_types": ["nope.*"]}, headers=webhooks.auth())
    assert bad.status_code == 422
