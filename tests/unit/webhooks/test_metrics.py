"""/metrics tells an operator which partner endpoint fails, how slow each is, what waits."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.support.waiting import until
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import Receiver, RunningService, StartService
from tests.unit.webhooks.test_dispatcher import closed_port, publish, wait_for_status


async def scrape(webhooks: RunningService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await webhooks.http.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_attempts_latency_and_backlog_per_endpoint(
    start_service: StartService, receiver: Receiver
) -> None:
    # Retries far off: the failing endpoint's delivery stays pending while the test looks.
    webhooks = await start_service(retry_schedule_seconds=[3600.0])
    good = await webhooks.register(receiver.url("partner"), ["session.*"])
    receiver.secrets["partner"] = good["secret"]
    bad = await webhooks.register(f"http://127.0.0.1:{closed_port()}/hooks", ["session.*"])

    await publish(webhooks, factories.session_completed())
    await wait_for_status(webhooks, good["id"], "delivered")

    async def failed_once() -> bool:
        found = await scrape(webhooks)
        return (
            found.get(
                ("rapport_webhook_attempts_total", (("endpoint", bad["id"]), ("outcome", "failed")))
            )
            == 1.0
        )

    await until(failed_once, "the failing endpoint's attempt is counted")
    found = await scrape(webhooks)
    good_labels = (("endpoint", good["id"]),)
    assert found[("rapport_webhook_attempts_total", (*good_labels, ("outcome", "delivered")))] == 1
    assert found[("rapport_webhook_attempt_seconds_count", good_labels)] == 1
    assert found[("rapport_webhook_backlog", (("endpoint", bad["id"]),))] == 1
    assert found[("rapport_webhook_oldest_pending_age_seconds", (("endpoint", bad["id"]),))] >= 0
    # Delivered: nothing of the good endpoint's waits.
    assert ("rapport_webhook_backlog", good_labels) not in found
