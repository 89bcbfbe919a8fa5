"""The dispatcher: sends due deliveries, signed, and records every attempt.

The loop claims as many due deliveries as it has free sending slots, and sends each in its
own task (so a slow endpoint holds one slot, not the loop). A slot frees up as soon as its
attempt has an answer; a recorder task stores the finished attempts, all those that finished
while it was storing the previous ones in one unit of work. So neither claiming nor recording
costs a unit of work per attempt: at the pace of a recovered endpoint's backlog (hundreds a
second) that cost, not the endpoint, would set the pace. The loop wakes when new deliveries
commit, when a slot frees up, when attempts are recorded (a recovery brings a backlog
forward), when a near retry falls due, and otherwise every ``poll_seconds``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import functools
import logging
import time
import uuid
from datetime import datetime, timedelta

import httpx
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.exc import SQLAlchemyError

from services.webhooks import service
from services.webhooks.messages import encode_body, signed_headers
from shared.db import Database, utc_now
from shared.destinations import DestinationPolicy, DestinationRefused, pinned_request
from shared.observability import Metrics
from shared.secret_box import SecretBox

log = logging.getLogger(__name__)

USER_AGENT = "Rapport-Webhooks/1"
# Extra time on a claim beyond the attempt's timeout, so a lease never runs out mid-attempt.
LEASE_MARGIN_SECONDS = 30.0


class DeliveryMetrics:
    """Attempts, their latency and the backlog per endpoint (labelled by endpoint id: one
    series per registered endpoint, never per URL or event)."""

    def __init__(self, metrics: Metrics, database: Database) -> None:
        registry = metrics.registry
        self.attempts = Counter(
            "rapport_webhook_attempts",
            "Delivery attempts by endpoint and outcome (delivered or failed)",
            ["endpoint", "outcome"],
            registry=registry,
        )
        self.seconds = Histogram(
            "rapport_webhook_attempt_seconds",
            "Time a partner endpoint took to answer a delivery attempt",
            ["endpoint"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry,
        )
        self.pending = Gauge(
            "rapport_webhook_backlog",
            "Deliveries waiting to succeed, by endpoint",
            ["endpoint"],
            registry=registry,
        )
        self.oldest = Gauge(
            "rapport_webhook_oldest_pending_age_seconds",
            "Age of an endpoint's oldest delivery still waiting to succeed",
            ["endpoint"],
            registry=registry,
        )
        self._database = database
        metrics.on_scrape(self.refresh)

    def attempted(self, endpoint_id: uuid.UUID, outcome: service.AttemptOutcome) -> None:
        endpoint = str(endpoint_id)
        self.attempts.labels(endpoint, "delivered" if outcome.succeeded else "failed").inc()
        self.seconds.labels(endpoint).observe(outcome.duration_ms / 1000)

    async def refresh(self) -> None:
        async with self._database.unit_of_work(notify=False) as session:
            backlog = await service.backlog(session)
        now = utc_now()
        self.pending.clear()
        self.oldest.clear()
        for entry in backlog:
            endpoint = str(entry.endpoint_id)
            self.pending.labels(endpoint).set(entry.pending)
            self.oldest.labels(endpoint).set((now - entry.oldest_queued_at).total_seconds())


class Dispatcher:
    """Delivers pending webhooks until stopped."""

    def __init__(
        self,
        database: Database,
        client: httpx.AsyncClient,
        *,
        destinations: DestinationPolicy,
        box: SecretBox,
        retry_policy: service.RetryPolicy,
        timeout_seconds: float,
        poll_seconds: float = 1.0,
        max_in_flight: int = 32,
        max_in_flight_per_endpoint: int = 4,
    ) -> None:
        self._database = database
        self._client = client
        self._destinations = destinations
        self._box = box
        self._retry_policy = retry_policy
        self._timeout = timeout_seconds
        self._poll = poll_seconds
        self._max_in_flight = max_in_flight
        self._max_per_endpoint = max_in_flight_per_endpoint
        self._in_flight: set[asyncio.Task[None]] = set()
        self._per_endpoint: collections.Counter[uuid.UUID] = collections.Counter()
        self._wakeup = asyncio.Event()
        self._stopping = False
        # Attempts answered and not yet recorded, in the order they finished.
        self._finished: list[tuple[service.DueDelivery, service.AttemptOutcome]] = []
        self._finished_arrived = asyncio.Event()
        self._sending_done = False
        self.metrics: DeliveryMetrics | None = None

    def instrument(self, metrics: Metrics) -> None:
        """Count attempts and report the backlog on the app's /metrics."""
        self.metrics = DeliveryMetrics(metrics, self._database)

    def wake(self) -> None:
        """Look for due deliveries now (new ones were committed, or a slot freed up)."""
        self._wakeup.set()

    def stop(self) -> None:
        """Claim nothing more; :meth:`run` returns once the attempts in flight are recorded."""
        self._stopping = True
        self._wakeup.set()

    @property
    def in_flight(self) -> int:
        """How many attempts are being made right now."""
        return len(self._in_flight)

    async def run(self) -> None:
        """Dispatch until :meth:`stop` (or cancellation, which cancels the attempts in flight)."""
        self._sending_done = False
        recorder = asyncio.create_task(self._record_finished(), name="webhook-recorder")
        backoff = self._poll
        try:
            while not self._stopping:
                self._wakeup.clear()
                try:
                    await self.dispatch_due()
                except (SQLAlchemyError, OSError) as exc:
                    # Deliveries wait in the database; nothing is lost while it is unavailable.
                    log.warning("webhook dispatcher: database unavailable, retrying: %s", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = self._poll
                # Either every due delivery was claimed or every slot is taken; a commit, a
                # freed slot or a timed retry wakes the loop before the poll runs out.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._poll)
            # Stopping: let the attempts in flight finish and be recorded (an attempt cut off
            # now would be repeated when its lease runs out).
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            self._sending_done = True
            self._finished_arrived.set()
            await recorder
        finally:
            for task in self._in_flight:
                task.cancel()
            recorder.cancel()
            await asyncio.gather(*self._in_flight, recorder, return_exceptions=True)

    async def dispatch_due(self) -> int:
        """Claim due deliveries for the free slots and start an attempt for each."""
        free = self._max_in_flight - self.in_flight
        if free <= 0:
            return 0
        lease = timedelta(seconds=self._timeout + LEASE_MARGIN_SECONDS)
        async with self._database.unit_of_work(notify=False) as session:
            due = await service.claim_due_deliveries(
                session,
                now=utc_now(),
                limit=free,
                lease=lease,
                box=self._box,
                in_flight=self._per_endpoint,
                per_endpoint_limit=self._max_per_endpoint,
            )
        for delivery in due:
            task = asyncio.create_task(
                self._deliver(delivery), name=f"webhook-delivery {delivery.delivery_id}"
            )
            self._in_flight.add(task)
            self._per_endpoint[delivery.endpoint_id] += 1
            task.add_done_callback(functools.partial(self._attempt_finished, delivery.endpoint_id))
        return len(due)

    def _attempt_finished(self, endpoint_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._per_endpoint[endpoint_id] -= 1
        if self._per_endpoint[endpoint_id] <= 0:
            del self._per_endpoint[endpoint_id]
        if not task.cancelled() and task.exception() is not None:
            # No outcome to record; the lease runs out and the attempt is made again.
            log.warning("webhook dispatcher: %s failed", task.get_name(), exc_info=task.exception())
        self.wake()

    async def _deliver(self, delivery: service.DueDelivery) -> None:
        outcome = await self.attempt(delivery)
        if self.metrics is not None:
            self.metrics.attempted(delivery.endpoint_id, outcome)
        # The slot is free once the endpoint has answered; the delivery stays leased (never
        # claimed again) until its outcome is recorded.
        self._finished.append((delivery, outcome))
        self._finished_arrived.set()

    async def _record_finished(self) -> None:
        """Record finished attempts, in batches, until sending has stopped and all are in."""
        while self._finished or not self._sending_done:
            if not self._finished:
                self._finished_arrived.clear()
                await self._finished_arrived.wait()
                continue
            batch, self._finished = self._finished, []
            try:
                async with self._database.unit_of_work(notify=False) as session:
                    due_again = await service.record_attempts(
                        session,
                        [(delivery.delivery_id, outcome) for delivery, outcome in batch],
                        policy=self._retry_policy,
                    )
            except (SQLAlchemyError, OSError) as exc:
                # Their leases run out and the attempts are made again: at least once.
                log.warning("webhook dispatcher: %d attempts not recorded: %s", len(batch), exc)
                await asyncio.sleep(self._poll)
                continue
            self._recorded(batch, due_again)

    def _recorded(
        self,
        batch: list[tuple[service.DueDelivery, service.AttemptOutcome]],
        due_again: dict[str, datetime | None],
    ) -> None:
        now = utc_now()
        for delivery, outcome in batch:
            log.info(
                "webhook attempt",
                extra={
                    "delivery_id": delivery.delivery_id,
                    "endpoint_id": str(delivery.endpoint_id),
                    "attempt": delivery.attempt_number,
                    "status_code": outcome.status_code,
                    "succeeded": outcome.succeeded,
                },
            )
            due = due_again.get(delivery.delivery_id)
            if due is not None and (delay := (due - now).total_seconds()) < self._poll:
                # A retry sooner than the next poll: wake exactly when it falls due.
                asyncio.get_running_loop().call_later(max(delay, 0.0), self.wake)
        # A recovered endpoint's backlog may have just come due.
        self.wake()

    async def attempt(self, delivery: service.DueDelivery) -> service.AttemptOutcome:
        """POST the delivery once, signed; an endpoint's failure is the outcome, not an error."""
        attempted_at = utc_now()
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            destination = await self._destinations.pin(delivery.url)
            url, pinning_headers, extensions = pinned_request(delivery.url, destination)
            body = encode_body(delivery.message)
            headers = signed_headers(
                delivery.secrets,
                delivery.delivery_id,
                attempted_at,
                body,
                signing_keys=delivery.signing_keys,
            )
            headers["user-agent"] = USER_AGENT
            headers.update(pinning_headers)
            async with asyncio.timeout(self._timeout):
                # Streamed and never read: the answer's status is all we keep, and a huge
                # or endless body must not cost memory or time.
                async with self._client.stream(
                    "POST", url, content=body.encode(), headers=headers, extensions=extensions
                ) as response:
                    status_code = response.status_code
                    if status_code in (429, 503):
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
        except DestinationRefused as exc:
            error = f"refused: {exc.detail}"
        except TimeoutError:
            error = f"timed out after {self._timeout:g}s"
        except Exception as exc:
            # Whatever kept this attempt from an answer (DNS, TLS, reset, bad URL) is its
            # recorded outcome, and the delivery is retried on schedule: nothing is dropped.
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        duration_ms = round((time.perf_counter() - started) * 1000)
        return service.AttemptOutcome(
            attempted_at=attempted_at,
            duration_ms=duration_ms,
            status_code=status_code,
            error=error,
            retry_after_seconds=retry_after,
        )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date), if valid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max((moment - utc_now()).total_seconds(), 0.0)
