"""The dispatcher: sends due deliveries, signed, and records every attempt.

Three cooperating parts, so that no attempt waits for a unit of work of its own (at the pace
of a recovered endpoint's backlog, hundreds a second, that cost and not the endpoint would
set the pace):

- the claiming loop leases due deliveries in batches, up to ``PREFETCH_ROUNDS`` times each
  endpoint's concurrency limit, into a local queue per endpoint;
- the starter takes claims off those queues as sending slots free up (never more than the
  endpoint's limit in flight), confirms them all in one statement, the last look before
  sending (a grant revoked, an endpoint disabled or deleted since the claim is honoured), and
  sends each in its own task, so a slow endpoint holds its own slots, not the loop;
- the recorder stores the finished attempts, all those that finished while it was storing
  the previous ones in one unit of work.

The loop wakes when new deliveries commit, when an endpoint's queue runs low, when attempts
are recorded (a recovery brings a backlog forward), when a near retry falls due, and
otherwise every ``poll_seconds``.
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
from datetime import timedelta

import httpx
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import service
from services.webhooks.messages import encode_body, signed_headers
from shared.db import Database, utc_now
from shared.destinations import DestinationPolicy, DestinationRefused, pinned_request
from shared.observability import Metrics
from shared.secret_box import SecretBox

log = logging.getLogger(__name__)

USER_AGENT = "Rapport-Webhooks/1"
# Extra time on a claim beyond the attempts' timeouts, so a lease never runs out mid-attempt.
LEASE_MARGIN_SECONDS = 30.0
# How many rounds of an endpoint's concurrency limit are claimed ahead: enough that its free
# slots are refilled from memory while the next batch is being claimed. A claim waits behind
# at most PREFETCH_ROUNDS - 1 rounds of attempts, which its lease covers.
PREFETCH_ROUNDS = 4
# An endpoint's answer is read (and dropped) up to this size, to keep its connection open.
MAX_ANSWER_BYTES_READ = 64 * 1024


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
        # Attempts in flight (or being confirmed) per endpoint, and claims waiting for a slot.
        self._per_endpoint: collections.Counter[uuid.UUID] = collections.Counter()
        self._queued: dict[uuid.UUID, collections.deque[service.DueDelivery]] = {}
        self._confirming = 0
        self._starter: asyncio.Task[None] | None = None
        # Each claim's lease covers the rounds it may wait plus its own attempt; a claim is
        # started only with at least one attempt's worth of lease left.
        self._lease = timedelta(
            seconds=(PREFETCH_ROUNDS + 1) * timeout_seconds + LEASE_MARGIN_SECONDS
        )
        self._lease_left_to_start = timedelta(seconds=timeout_seconds + LEASE_MARGIN_SECONDS)
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

    @property
    def waiting(self) -> int:
        """How many claimed deliveries wait in memory for a sending slot."""
        return sum(len(queue) for queue in self._queued.values()) + self._confirming

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
            # Stopping: claims not yet started go back at once (rather than when their lease
            # runs out); the attempts in flight finish and are recorded (an attempt cut off
            # now would be repeated when its lease runs out).
            if self._starter is not None:
                await asyncio.gather(self._starter, return_exceptions=True)
            await self._give_back_queued()
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            self._sending_done = True
            self._finished_arrived.set()
            await recorder
        finally:
            tasks = [*self._in_flight, recorder, *([self._starter] if self._starter else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def dispatch_due(self) -> int:
        """Claim due deliveries into the endpoints' queues, and start what has a free slot."""
        held = collections.Counter(self._per_endpoint)
        for endpoint_id, queue in self._queued.items():
            held[endpoint_id] += len(queue)
        room = self._max_in_flight * PREFETCH_ROUNDS - sum(held.values())
        claimed: list[service.DueDelivery] = []
        if room > 0:
            async with self._database.unit_of_work(notify=False) as session:
                claimed = await service.claim_due_deliveries(
                    session,
                    now=utc_now(),
                    limit=room,
                    lease=self._lease,
                    box=self._box,
                    in_flight=held,
                    per_endpoint_limit=self._max_per_endpoint * PREFETCH_ROUNDS,
                )
        for delivery in claimed:
            self._queued.setdefault(delivery.endpoint_id, collections.deque()).append(delivery)
        self._start_queued()
        return len(claimed)

    def _start_queued(self) -> None:
        """Start the starter, unless it is running (it looks again before it ends)."""
        if self._starter is None and not self._stopping:
            self._starter = asyncio.create_task(self._start_confirmed(), name="webhook-starter")

    def _take_startable(self) -> list[service.DueDelivery]:
        """Claims off the queues for the free slots, oldest due first, within each endpoint's
        limit and the overall one; their slots count as taken from now on."""
        heads = sorted(
            (queue[0].due_at or utc_now(), endpoint_id)
            for endpoint_id, queue in self._queued.items()
            if queue
        )
        taken: list[service.DueDelivery] = []
        for _, endpoint_id in heads:
            queue = self._queued[endpoint_id]
            while (
                queue
                and self._per_endpoint[endpoint_id] < self._max_per_endpoint
                and len(self._in_flight) + self._confirming < self._max_in_flight
            ):
                taken.append(queue.popleft())
                self._per_endpoint[endpoint_id] += 1
                self._confirming += 1
            if not queue:
                del self._queued[endpoint_id]
        return taken

    async def _start_confirmed(self) -> None:
        try:
            while not self._stopping and (taken := self._take_startable()):
                try:
                    send, give_back = await self._confirm(taken)
                except (SQLAlchemyError, OSError) as exc:
                    # Still leased: they wait in their queues for the database to answer.
                    log.warning("webhook dispatcher: database unavailable, retrying: %s", exc)
                    for delivery in reversed(taken):
                        self._confirming -= 1
                        self._free_slot(delivery.endpoint_id)
                        queue = self._queued.setdefault(delivery.endpoint_id, collections.deque())
                        queue.appendleft(delivery)
                    await asyncio.sleep(self._poll)
                    continue
                sending = {delivery.delivery_id for delivery in send}
                for delivery in taken:
                    self._confirming -= 1
                    if delivery.delivery_id in sending:
                        self._start(delivery)
                    else:
                        self._free_slot(delivery.endpoint_id)
        finally:
            self._starter = None

    async def _confirm(
        self, taken: list[service.DueDelivery]
    ) -> tuple[list[service.DueDelivery], list[service.DueDelivery]]:
        # One read, on the critical path of every start: outside a transaction (no BEGIN and
        # COMMIT round trips); it sees whatever had committed when it ran.
        async with (
            self._database.engine.connect() as connection,
            AsyncSession(
                bind=await connection.execution_options(isolation_level="AUTOCOMMIT")
            ) as session,
        ):
            send, give_back = await service.confirm_claims(
                session, taken, now=utc_now(), lease_left=self._lease_left_to_start
            )
        if give_back:
            async with self._database.unit_of_work(notify=False) as session:
                await service.give_back_claims(session, give_back)
        return send, give_back

    def _start(self, delivery: service.DueDelivery) -> None:
        task = asyncio.create_task(
            self._deliver(delivery), name=f"webhook-delivery {delivery.delivery_id}"
        )
        self._in_flight.add(task)
        task.add_done_callback(functools.partial(self._attempt_finished, delivery.endpoint_id))

    def _free_slot(self, endpoint_id: uuid.UUID) -> None:
        self._per_endpoint[endpoint_id] -= 1
        if self._per_endpoint[endpoint_id] <= 0:
            del self._per_endpoint[endpoint_id]

    def _attempt_finished(self, endpoint_id: uuid.UUID, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._free_slot(endpoint_id)
        if not task.cancelled() and task.exception() is not None:
            # No outcome to record; the lease runs out and the attempt is made again.
            log.warning("webhook dispatcher: %s failed", task.get_name(), exc_info=task.exception())
        self._start_queued()
        if len(self._queued.get(endpoint_id, ())) <= self._max_per_endpoint:
            self.wake()  # one round left in the endpoint's queue: claim the next batch

    async def _give_back_queued(self) -> None:
        queued = [delivery for queue in self._queued.values() for delivery in queue]
        self._queued.clear()
        if not queued:
            return
        try:
            async with self._database.unit_of_work(notify=False) as session:
                await service.give_back_claims(session, queued)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("webhook dispatcher: claims kept until their leases run out: %s", exc)

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
                    recorded = await service.record_attempts(
                        session,
                        [(delivery.delivery_id, outcome) for delivery, outcome in batch],
                        policy=self._retry_policy,
                    )
            except (SQLAlchemyError, OSError) as exc:
                # Their leases run out and the attempts are made again: at least once.
                log.warning("webhook dispatcher: %d attempts not recorded: %s", len(batch), exc)
                await asyncio.sleep(self._poll)
                continue
            self._recorded(batch, recorded)

    def _recorded(
        self,
        batch: list[tuple[service.DueDelivery, service.AttemptOutcome]],
        recorded: service.Recorded,
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
            due = recorded.due_again.get(delivery.delivery_id)
            if due is not None and (delay := (due - now).total_seconds()) < self._poll:
                # A retry sooner than the next poll: wake exactly when it falls due.
                asyncio.get_running_loop().call_later(max(delay, 0.0), self.wake)
        if recorded.released:
            self.wake()  # a recovered endpoint's backlog has just come due

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
                # Streamed: the answer's status is all we keep. A short body is read to its
                # end, so that the connection goes back to the pool for the next attempt (a
                # new connection per attempt would cost more than the attempt); a longer or
                # endless one is not, and the connection is closed.
                async with self._client.stream(
                    "POST", url, content=body.encode(), headers=headers, extensions=extensions
                ) as response:
                    status_code = response.status_code
                    if status_code in (429, 503):
                        retry_after = parse_retry_after(response.headers.get("retry-after"))
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > MAX_ANSWER_BYTES_READ:
                            break
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
