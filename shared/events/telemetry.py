"""Prometheus metrics of the event pipeline: the outbox's backlog, consumer lag, dead letters.

Registered on each service's own registry by :func:`shared.service_app.add_event_pipeline`.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Gauge
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from shared.db import Database, utc_now
from shared.events.kafka import EventConsumer
from shared.events.outbox import pending_summary
from shared.observability import Metrics


def instrument_outbox(metrics: Metrics, *, database: Database) -> None:
    """``rapport_outbox_pending`` and the age of the oldest pending event, read per scrape."""
    pending = Gauge(
        "rapport_outbox_pending",
        "Events written to the outbox and not yet published to Kafka",
        ["service"],
        registry=metrics.registry,
    ).labels(metrics.service)
    oldest = Gauge(
        "rapport_outbox_oldest_pending_age_seconds",
        "Age of the oldest event waiting in the outbox (0 when none waits)",
        ["service"],
        registry=metrics.registry,
    ).labels(metrics.service)

    async def refresh() -> None:
        async with database.unit_of_work(notify=False) as session:
            count, created_at = await pending_summary(session)
        pending.set(count)
        oldest.set(0.0 if created_at is None else (utc_now() - created_at).total_seconds())

    metrics.on_scrape(refresh)


def instrument_consumer(metrics: Metrics, *, consumer: EventConsumer) -> None:
    """Consumer lag per partition, and what the consumer applied and dead-lettered."""
    lag = Gauge(
        "rapport_consumer_lag",
        "Records in a partition the consumer has not consumed yet",
        ["consumer", "topic", "partition"],
        registry=metrics.registry,
    )

    async def refresh() -> None:
        lags = await consumer.lag()
        lag.clear()  # partitions reassigned to another replica are no longer this one's
        for partition, records in lags.items():
            lag.labels(consumer.name, partition.topic, str(partition.partition)).set(records)

    metrics.on_scrape(refresh)
    metrics.registry.register(ConsumerCounts(consumer))


class ConsumerCounts(Collector):
    """The consumer's own counts (:class:`shared.events.kafka.ConsumerStats`), read per scrape."""

    def __init__(self, consumer: EventConsumer) -> None:
        self._consumer = consumer

    def collect(self) -> Iterable[CounterMetricFamily]:
        name, stats = self._consumer.name, self._consumer.stats
        applied = CounterMetricFamily(
            "rapport_consumer_events_applied", "Events applied by the consumer", labels=["consumer"]
        )
        applied.add_metric([name], stats.applied)
        duplicates = CounterMetricFamily(
            "rapport_consumer_duplicates",
            "Redelivered events the inbox recognised and skipped",
            labels=["consumer"],
        )
        duplicates.add_metric([name], stats.duplicates)
        dead = CounterMetricFamily(
            "rapport_dead_letters",
            "Events sent to the dead-letter topic, by error class",
            labels=["consumer", "reason"],
        )
        for reason, count in sorted(stats.dead_letter_reasons.items()):
            dead.add_metric([name, reason], count)
        return [applied, duplicates, dead]
