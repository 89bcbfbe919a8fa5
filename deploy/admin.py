"""``rapport``: the operator's command line for a running deployment.

Reads the same environment as the services (``RAPPORT_KAFKA_BOOTSTRAP``,
``RAPPORT_<SERVICE>_DATABASE_URL``, ...). Commands that belong to one service (migrations,
accounts, signing keys, the audit check) run that service's own command, so there is one
implementation of each; the rest (outbox status, dead letters, webhook replays, audit
checkpoints) are here. An expected failure prints one ``error:`` line and exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from deploy import topology
from shared.db import Database, utc_now
from shared.errors import RapportError
from shared.events.catalog import (
    TOPIC_IDENTITY,
    TOPIC_RECORDS,
    TOPIC_SIGNALING,
    TOPIC_WEBHOOKS,
    dead_letter_topic,
)
from shared.events.outbox import pending_summary
from shared.settings import ServiceSettings

# The services that own a database (and so an outbox and migrations), from the topology.
SERVICES = tuple(s.name for s in topology.SERVICES if s.has_database)
DEAD_LETTER_TOPICS = tuple(
    dead_letter_topic(t) for t in (TOPIC_IDENTITY, TOPIC_RECORDS, TOPIC_SIGNALING, TOPIC_WEBHOOKS)
)
DLQ_HEADER_PREFIX = "rapport_dlq_"
# The consumer group whose committed offsets say which dead letters were already redriven.
REDRIVE_GROUP = "rapport-admin-redrive"
# A malformed record fails the same way however often it is sent again.
MALFORMED = "malformed"
# How long reading one partition up to its end may take before the command gives up.
READ_TIMEOUT_SECONDS = 60.0


class CommandError(Exception):
    """An expected failure of a command: printed as one line, exit code 1."""


def service_settings(service: str) -> ServiceSettings:
    """``service``'s settings, read from the environment as the service itself reads them."""
    (described,) = [s for s in topology.SERVICES if s.name == service]
    settings = described.settings()()
    assert isinstance(settings, ServiceSettings)
    return settings


def run_service_command(service: str, *argv: str) -> int:
    """Run ``python -m services.<service> <argv>`` in this process; return its exit code."""
    module = importlib.import_module(f"services.{service}.__main__")
    code: int = module.main(list(argv))
    return code


# Service commands ---------------------------------------------------------------------------


def migrate(arguments: argparse.Namespace) -> int:
    for service in arguments.services or SERVICES:
        if code := run_service_command(service, "migrate"):
            return code
    return 0


def create_user(arguments: argparse.Namespace) -> int:
    argv = ["create-user", "--email", arguments.email, "--display-name", arguments.display_name]
    argv += ["--role", arguments.role]
    if arguments.password is not None:
        argv += ["--password", arguments.password]
    return run_service_command("identity", *argv)


def rotate_keys(_: argparse.Namespace) -> int:
    return run_service_command("identity", "rotate-keys")


def audit_verify(_: argparse.Namespace) -> int:
    return run_service_command("records", "verify-audit")


# Outbox -------------------------------------------------------------------------------------


async def outbox_status(arguments: argparse.Namespace) -> int:
    """One JSON line per service: pending events and the age of the oldest."""
    for service in arguments.services or SERVICES:
        database = Database(service_settings(service).database_url)
        try:
            async with database.unit_of_work(notify=False) as session:
                pending, oldest = await pending_summary(session)
        finally:
            await database.dispose()
        age = None if oldest is None else round((utc_now() - oldest).total_seconds(), 3)
        print(json.dumps({"service": service, "pending": pending, "oldest_age_seconds": age}))
    return 0


# Dead letters -------------------------------------------------------------------------------


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return value.decode(errors="replace")
    return None


def _describe(record: ConsumerRecord[bytes, bytes]) -> dict[str, Any]:
    """What an operator needs to decide about a dead letter; never its payload."""
    return {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "key": record.key.decode(errors="replace") if record.key else None,
        "event_id": _header(record, "ce_id"),
        "event_type": _header(record, "ce_type"),
        "consumer": _header(record, DLQ_HEADER_PREFIX + "consumer"),
        "from": f"{_header(record, DLQ_HEADER_PREFIX + 'topic')}"
        f"[{_header(record, DLQ_HEADER_PREFIX + 'partition')}]"
        f"@{_header(record, DLQ_HEADER_PREFIX + 'offset')}",
        "reason": _header(record, DLQ_HEADER_PREFIX + "reason"),
    }


async def _partitions(bootstrap: str, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of those of ``topics`` that exist (a topic is created by its first
    dead letter; asking for it by name could create it)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics()  # every topic: never creates one
    finally:
        await admin.close()
    wanted = set(topics)
    return sorted(
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["topic"] in wanted
        for partition in topic["partitions"]
    )


async def _dead_letters(
    bootstrap: str,
    topics: Sequence[str],
    group: str | None,
    visit: Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]],
) -> dict[TopicPartition, int]:
    """Hand every dead letter up to the topics' current end to ``visit``, in order per
    partition: from the group's committed offsets with ``group``, else from the beginning.
    Returns the offset after the last record visited per partition."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        partitions = await _partitions(bootstrap, topics)
        if not partitions:
            return {}
        consumer.assign(partitions)
        if group is None:
            await consumer.seek_to_beginning(*partitions)
        # Up to where the topics end now: letters written meanwhile wait for the next run.
        ends = await consumer.end_offsets(partitions)
        reached: dict[TopicPartition, int] = {}
        for partition in partitions:
            end = ends[partition]
            deadline = asyncio.get_running_loop().time() + READ_TIMEOUT_SECONDS
            while await consumer.position(partition) < end:
                if asyncio.get_running_loop().time() > deadline:
                    raise CommandError(f"{partition.topic}[{partition.partition}]: read timed out")
                batch = await consumer.getmany(partition, timeout_ms=1000)
                for record in batch.get(partition, []):
                    if record.offset < end:
                        await visit(record)
            reached[partition] = end
        if group is not None and reached:
            await consumer.commit(reached)
        return reached
    finally:
        await consumer.stop()


async def dead_letters_list(arguments: argparse.Namespace) -> int:
    """One JSON line per dead letter (newest last), without the payload."""
    bootstrap = ServiceSettings().kafka_bootstrap

    async def show(record: ConsumerRecord[bytes, bytes]) -> None:
        described = _describe(record)
        if arguments.consumer is None or described["consumer"] == arguments.consumer:
            print(json.dumps(described))

    await _dead_letters(bootstrap, arguments.topics or DEAD_LETTER_TOPICS, None, show)
    return 0


async def dead_letters_redrive(arguments: argparse.Namespace) -> int:
    """Send dead letters back to the topic they came from, each once, for their consumer to
    try again (after its fix is deployed). The inbox keeps this exactly-once for consumers
    that applied the event already. Malformed records are skipped: they cannot succeed."""
    bootstrap = ServiceSettings().kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    counts = {"redriven": 0, "skipped_malformed": 0, "skipped_other_consumer": 0}

    async def redrive(record: ConsumerRecord[bytes, bytes]) -> None:
        consumer = _header(record, DLQ_HEADER_PREFIX + "consumer")
        if arguments.consumer is not None and consumer != arguments.consumer:
            counts["skipped_other_consumer"] += 1
            return
        reason = _header(record, DLQ_HEADER_PREFIX + "reason") or ""
        if reason.startswith(MALFORMED):
            counts["skipped_malformed"] += 1
            return
        origin = _header(record, DLQ_HEADER_PREFIX + "topic")
        if origin is None:
            raise CommandError(f"{record.topic}[{record.partition}]@{record.offset}: no origin")
        headers = [(k, v) for k, v in record.headers if not k.startswith(DLQ_HEADER_PREFIX)]
        await producer.send_and_wait(origin, record.value, key=record.key, headers=headers)
        counts["redriven"] += 1

    try:
        group = f"{REDRIVE_GROUP}-{arguments.consumer}" if arguments.consumer else REDRIVE_GROUP
        await _dead_letters(bootstrap, arguments.topics or DEAD_LETTER_TOPICS, group, redrive)
    finally:
        await producer.stop()
    print(json.dumps(counts))
    return 0


# Webhooks -----------------------------------------------------------------------------------


async def webhooks_replay(arguments: argparse.Namespace) -> int:
    """Send a delivery again (or every failed one since a time), as an admin would by API."""
    from services.webhooks import service
    from shared.tokens import Principal

    operator = Principal(
        subject="rapport-admin-cli",
        role="admin",
        scopes=frozenset(),
        token_id=f"cli-{uuid.uuid4()}",
        expires_at=0,
    )
    database = Database(service_settings("webhooks").database_url)
    try:
        async with database.unit_of_work() as session:
            if arguments.delivery is not None:
                replayed = [
                    await service.replay_delivery(
                        session, operator, arguments.endpoint, arguments.delivery
                    )
                ]
            else:
                replayed = await service.replay_failed_since(
                    session, operator, arguments.endpoint, arguments.failed_since
                )
        print(json.dumps({"replayed": [d.id for d in replayed]}))
    finally:
        await database.dispose()
    return 0


# Audit --------------------------------------------------------------------------------------


async def audit_checkpoint(_: argparse.Namespace) -> int:
    """Seal every committed audit entry and print the chain's head: kept outside the
    database (a ticket, a log archive), it lets a later verify notice a rewritten history."""
    from prometheus_client import CollectorRegistry

    from services.records.models import AuditEntry
    from shared.audit_log import AuditSealer, chain_head

    database = Database(service_settings("records").database_url)
    try:
        sealer = AuditSealer(database, AuditEntry, CollectorRegistry(), poll_seconds=1.0)
        sealed = await sealer.seal()
        async with database.unit_of_work(notify=False) as session:
            seq, head = await chain_head(session, AuditEntry)
    finally:
        await database.dispose()
    print(json.dumps({"seq": seq, "head": head, "sealed_now": sealed, "at": utc_now().isoformat()}))
    return 0


# The parser ---------------------------------------------------------------------------------


def _service(name: str) -> str:
    if name not in SERVICES:
        raise argparse.ArgumentTypeError(f"no service {name!r} (one of {', '.join(SERVICES)})")
    return name


def _in_loop(
    command: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    def run(arguments: argparse.Namespace) -> int:
        return asyncio.run(command(arguments))

    return run


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="rapport", description="The operator's command line for a Rapport deployment."
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="command")

    def add(under: Any, name: str, help: str, run: Callable[[argparse.Namespace], int]) -> Any:
        command = under.add_parser(name, help=help, description=help)
        command.set_defaults(run=run)
        return command

    def group(name: str, help: str) -> Any:
        return commands.add_parser(name, help=help, description=help).add_subparsers(
            dest=f"{name}_command", required=True, metavar="command"
        )

    # Checked by type, not choices: argparse (3.11) checks an empty "*" list against choices.
    services = {"nargs": "*", "type": _service, "metavar": "{" + ",".join(SERVICES) + "}"}
    add(
        commands, "migrate", "upgrade each service's database (all by default)", migrate
    ).add_argument("services", **services)
    user = add(commands, "create-user", "create an admin, clinician or client", create_user)
    user.add_argument("--email", required=True)
    user.add_argument("--display-name", required=True)
    user.add_argument("--role", required=True, choices=("admin", "clinician", "client"))
    user.add_argument("--password", help="prompted for when left out (keeps it out of history)")
    add(commands, "rotate-keys", "sign tokens with a new signing key", rotate_keys)

    outbox = group("outbox", "the transactional outbox of each service")
    add(
        outbox, "status", "pending events per service, age of the oldest", _in_loop(outbox_status)
    ).add_argument("services", **services)

    dead_letters = group("dead-letters", "events consumers could not apply")
    for name, help, run in (
        ("list", "print each dead letter (never its payload)", dead_letters_list),
        ("redrive", "send dead letters back to their topic, each once", dead_letters_redrive),
    ):
        command = add(dead_letters, name, help, _in_loop(run))
        command.add_argument(
            "--topic",
            dest="topics",
            action="append",
            choices=DEAD_LETTER_TOPICS,
            help="a dead-letter topic (all by default; repeatable)",
        )
        command.add_argument("--consumer", help="only the letters of this consumer group")

    webhooks = group("webhooks", "partner webhook deliveries")
    replay = add(
        webhooks,
        "replay",
        "send a delivery again, or all failed since a time",
        _in_loop(webhooks_replay),
    )
    replay.add_argument("--endpoint", required=True, type=uuid.UUID)
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--delivery", help="one delivery id (its webhook-id)")
    which.add_argument("--failed-since", type=datetime.fromisoformat, help="an ISO 8601 time")

    audit = group("audit", "the records audit log's hash chain")
    add(audit, "verify", "check the chain; exit 1 if an entry was changed", audit_verify)
    add(audit, "checkpoint", "seal what is committed, print the head", _in_loop(audit_checkpoint))
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv``; return the exit code."""
    arguments = parser().parse_args(argv)
    try:
        code: int = arguments.run(arguments)
    except (CommandError, RapportError) as exc:
        print(f"error: {getattr(exc, 'detail', exc)}", file=sys.stderr)
        return 1
    except KafkaError as exc:
        print(f"error: Kafka failed ({type(exc).__name__}): {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(
            f"error: database failed ({type(exc).__name__}); is it reachable and migrated "
            "(rapport migrate)?",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
