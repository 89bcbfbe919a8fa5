"""``rapport``, the operator's command line, against real PostgreSQL databases and a real
Kafka broker, run as an operator runs it: a separate process reading the environment."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlmodel import col, select

from deploy.admin import SERVICES, main
from services.records.models import AuditEntry
from services.webhooks.messages import new_secret
from services.webhooks.models import Delivery, DeliveryStatus, WebhookEndpoint
from shared.db import Database
from shared.events.catalog import TOPIC_IDENTITY, UserRegistered, dead_letter_topic
from shared.events.envelope import encode
from shared.events.outbox import OutboxMessage

pytestmark = pytest.mark.integration


class Deployment:
    """Each service's database, migrated by the CLI itself, and the environment naming them."""

    def __init__(self, postgres_server, kafka_bootstrap: str) -> None:  # type: ignore[no-untyped-def]
        self.postgres = postgres_server
        self.names = {s: f"cli_{s}_{uuid.uuid4().hex[:8]}" for s in SERVICES}
        self.env = {"RAPPORT_ENVIRONMENT": "test", "RAPPORT_KAFKA_BOOTSTRAP": kafka_bootstrap}
        for service, name in self.names.items():
            postgres_server.create_database(name)
            self.env[f"RAPPORT_{service.upper()}_DATABASE_URL"] = self.url(service)

    def url(self, service: str) -> str:
        url: str = self.postgres.async_url(self.names[service])
        return url

    def rapport(self, *argv: str, expect: int = 0) -> str:
        """Run ``rapport argv`` as its console script does, in this process (a process per
        command would spend most of the test importing); what it printed on stdout, or on
        stderr when it is expected to fail."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(argv))
        assert code == expect, f"{argv}: {out.getvalue()}\n{err.getvalue()}"
        return out.getvalue() if expect == 0 else err.getvalue()

    def drop(self) -> None:
        for name in self.names.values():
            self.postgres.drop_database(name)


@pytest.fixture(scope="module")
def deployment(postgres_server, kafka_bootstrap) -> Iterator[Deployment]:  # type: ignore[no-untyped-def]
    deployment = Deployment(postgres_server, kafka_bootstrap)
    with pytest.MonkeyPatch.context() as environment:
        for name in [n for n in os.environ if n.startswith(("RAPPORT_", "OTEL_"))]:
            environment.delenv(name)
        for name, value in deployment.env.items():
            environment.setenv(name, value)
        try:
            deployment.rapport("migrate")
            yield deployment
        finally:
            deployment.drop()


def test_the_console_script_is_installed(deployment: Deployment) -> None:
    # A separate process, as an operator runs it, reading the environment.
    script = Path(sys.executable).parent / "rapport"
    result = subprocess.run(
        [script, "outbox", "status", "signaling"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "service": "signaling",
        "pending": 0,
        "oldest_age_seconds": None,
    }
    help = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=120)
    for command in ("migrate", "create-user", "outbox", "dead-letters", "webhooks", "audit"):
        assert command in help.stdout


def test_migrate_is_repeatable_and_named_per_service(deployment: Deployment) -> None:
    out = deployment.rapport("migrate", "records")
    assert "records database at head" in out and "identity" not in out


def test_accounts_keys_and_the_outbox_they_fill(deployment: Deployment) -> None:
    email = f"ops-{uuid.uuid4().hex[:6]}@example.com"
    for role, address in (("admin", email), ("clinician", "c-" + email)):
        out = deployment.rapport(
            "create-user",
            "--email",
            address,
            "--display-name",
            "Ops",
            "--role",
            role,
            "--password",
            "a long enough password 1",
        )
        assert f"created {role} {address}" in out
    again = deployment.rapport(
        "create-user",
        "--email",
        email,
        "--display-name",
        "Ops",
        "--role",
        "admin",
        "--password",
        "a long enough password 1",
        expect=1,
    )
    assert again.startswith("error:") and "Traceback" not in again
    deployment.rapport("rotate-keys")

    # No relay runs here: the two registrations wait in identity's outbox.
    lines = [json.loads(line) for line in deployment.rapport("outbox", "status").splitlines()]
    by_service = {line["service"]: line for line in lines}
    assert set(by_service) == set(SERVICES)
    assert by_service["identity"]["pending"] >= 2
    assert by_service["identity"]["oldest_age_seconds"] >= 0
    assert by_service["webhooks"] == {
        "service": "webhooks",
        "pending": 0,
        "oldest_age_seconds": None,
    }


async def test_dead_letters_are_listed_and_redriven_once(
    deployment: Deployment, kafka_bootstrap: str
) -> None:
    consumer = f"cli-test-{uuid.uuid4().hex[:6]}"
    user_id = uuid.uuid4()
    event = encode(
        UserRegistered(user_id=user_id, role="client", registered_at=datetime.now(UTC)),
        source="/test",
    )
    event_id = dict(event.headers)["ce_id"].decode()
    # Two letters as EventConsumer writes them: one failed in a handler, one malformed.
    letters = [
        (event.value, "ValueError: handler bug"),
        (b"{not json", "malformed: JSONDecodeError"),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for value, reason in letters:
            await producer.send_and_wait(
                dead_letter_topic(TOPIC_IDENTITY),
                value,
                key=event.key,
                headers=event.headers
                + [
                    ("rapport_dlq_reason", reason.encode()),
                    ("rapport_dlq_consumer", consumer.encode()),
                    ("rapport_dlq_topic", TOPIC_IDENTITY.encode()),
                    ("rapport_dlq_partition", b"0"),
                    ("rapport_dlq_offset", b"7"),
                ],
            )
    finally:
        await producer.stop()

    listed = await asyncio.to_thread(
        deployment.rapport, "dead-letters", "list", "--consumer", consumer
    )
    rows = [json.loads(line) for line in listed.splitlines()]
    assert [(r["event_id"], r["reason"]) for r in rows] == [
        (event_id, "ValueError: handler bug"),
        (event_id, "malformed: JSONDecodeError"),
    ]
    assert all(r["from"] == f"{TOPIC_IDENTITY}[0]@7" for r in rows)
    assert "registered_at" not in listed  # the payload is never printed

    redriven = await asyncio.to_thread(
        deployment.rapport, "dead-letters", "redrive", "--consumer", consumer
    )
    assert json.loads(redriven)["redriven"] == 1
    assert json.loads(redriven)["skipped_malformed"] == 1
    # Each letter once: a second run finds nothing new.
    again = await asyncio.to_thread(
        deployment.rapport, "dead-letters", "redrive", "--consumer", consumer
    )
    assert json.loads(again)["redriven"] == 0

    # Back on its topic as it was first published, without the dead-letter headers.
    reader = AIOKafkaConsumer(
        TOPIC_IDENTITY, bootstrap_servers=kafka_bootstrap, auto_offset_reset="earliest"
    )
    await reader.start()
    try:
        found = []
        deadline = asyncio.get_running_loop().time() + 60
        while not found:
            assert asyncio.get_running_loop().time() < deadline, "the redriven event never came"
            for records in (await reader.getmany(timeout_ms=500)).values():
                found += [r for r in records if dict(r.headers).get("ce_id") == event_id.encode()]
    finally:
        await reader.stop()
    (record,) = found
    assert record.value == event.value and record.key == event.key
    assert not any(k.startswith("rapport_dlq_") for k, _ in record.headers)


async def test_webhook_deliveries_are_replayed(deployment: Deployment) -> None:
    database = Database(deployment.url("webhooks"))
    endpoint = WebhookEndpoint(
        owner_id="partner-x",
        url="https://partner.example/hooks",
        event_types=["*"],
        secret=new_secret(),
    )
    delivery = Delivery(
        id=f"msg_{uuid.uuid4().hex}",
        endpoint_id=endpoint.id,
        event_id=str(uuid.uuid4()),
        event_type="rapport.records.session.completed.v1",
        payload={},
        status=DeliveryStatus.FAILED,
        attempt_count=8,
    )
    try:
        async with database.unit_of_work() as session:
            session.add(endpoint)
            await session.flush()
            session.add(delivery)
        out = await asyncio.to_thread(
            deployment.rapport,
            "webhooks",
            "replay",
            "--endpoint",
            str(endpoint.id),
            "--delivery",
            delivery.id,
        )
        assert json.loads(out) == {"replayed": [delivery.id]}
        async with database.unit_of_work() as session:
            stored = (await session.exec(select(Delivery).where(Delivery.id == delivery.id))).one()
        assert stored.status == DeliveryStatus.PENDING

        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        # Pending again, so nothing has failed since: an empty replay, not an error.
        out = await asyncio.to_thread(
            deployment.rapport,
            "webhooks",
            "replay",
            "--endpoint",
            str(endpoint.id),
            "--failed-since",
            since,
        )
        assert json.loads(out) == {"replayed": []}
        missing = await asyncio.to_thread(
            deployment.rapport,
            "webhooks",
            "replay",
            "--endpoint",
            str(uuid.uuid4()),
            "--delivery",
            delivery.id,
            expect=1,
        )
        assert missing.startswith("error: no webhook endpoint")
    finally:
        await database.dispose()


async def test_the_audit_is_checkpointed_and_verified(deployment: Deployment) -> None:
    database = Database(deployment.url("records"))
    try:
        async with database.unit_of_work() as session:
            for n in range(3):
                session.add(
                    AuditEntry(
                        actor_id=uuid.uuid4(),
                        actor_role="clinician",
                        action="read",
                        resource_type="session",
                        resource_id=str(n),
                    )
                )
        checkpoint = json.loads(await asyncio.to_thread(deployment.rapport, "audit", "checkpoint"))
        assert checkpoint["seq"] == 3 and checkpoint["sealed_now"] == 3
        assert len(checkpoint["head"]) == 64
        verified = json.loads(await asyncio.to_thread(deployment.rapport, "audit", "verify"))
        assert verified["ok"] is True and verified["checked"] == 3
        assert verified["head"] == checkpoint["head"]
        # Nothing new: a second checkpoint seals nothing and names the same head.
        again = json.loads(await asyncio.to_thread(deployment.rapport, "audit", "checkpoint"))
        assert (again["seq"], again["head"], again["sealed_now"]) == (3, checkpoint["head"], 0)
    finally:
        await database.dispose()


def test_outbox_status_reads_every_service(deployment: Deployment) -> None:
    # Exactly the outbox's own count: what the relay has not yet sent.
    async def pending_rows() -> int:
        database = Database(deployment.url("records"))
        try:
            async with database.unit_of_work() as session:
                rows = await session.exec(
                    select(OutboxMessage).where(col(OutboxMessage.sent_at).is_(None))
                )
                return len(rows.all())
        finally:
            await database.dispose()

    expected = asyncio.run(pending_rows())
    line = json.loads(deployment.rapport("outbox", "status", "records"))
    assert line["service"] == "records" and line["pending"] == expected
