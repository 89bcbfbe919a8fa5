"""The gateway routes a signaling session to the process that claims its room's partition."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner

from gateway.routing import Upstream, UpstreamDirectory
from shared.room_owners import OwnerClaim, OwnerDirectory, partition_of

PARTITIONS = 4
STATIC = "http://static:8003"


def _directory(static: list[str]) -> tuple[UpstreamDirectory, OwnerDirectory]:
    owners = OwnerDirectory(bootstrap_servers="127.0.0.1:1", client_id="test")
    members = {
        Upstream.IDENTITY: ["http://identity"],
        Upstream.RECORDS: ["http://records"],
        Upstream.SIGNALING: static,
        Upstream.WEBHOOKS: ["http://webhooks"],
        Upstream.NOTIFICATIONS: ["http://notifications"],
    }
    return UpstreamDirectory(members, owners=owners), owners


def _claim(
    partition: int, url: str, generation: int, member: str, ready: bool = True
) -> OwnerClaim:
    return OwnerClaim(
        partition=partition,
        partitions=PARTITIONS,
        url=url,
        generation=generation,
        member=member,
        ready=ready,
    )


def test_a_session_goes_to_the_owner_of_its_partition() -> None:
    upstreams, owners = _directory([STATIC])
    session = str(uuid.uuid4())
    assert upstreams.base_url(Upstream.SIGNALING, session) == STATIC  # no owner known yet
    partition = partition_of(session, PARTITIONS)
    owners.apply(_claim(partition, "http://a:8003", 1, "a"))
    owners.apply(_claim((partition + 1) % PARTITIONS, "http://b:8003", 1, "b"))
    assert upstreams.base_url(Upstream.SIGNALING, session) == "http://a:8003"


def test_a_draining_owner_gets_nothing_new_and_its_successor_takes_over() -> None:
    upstreams, owners = _directory([])
    session = str(uuid.uuid4())
    partition = partition_of(session, PARTITIONS)
    owners.apply(_claim(partition, "http://a:8003", 1, "a"))
    owners.apply(_claim(partition, "http://a:8003", 1, "a", ready=False))
    assert upstreams.base_url(Upstream.SIGNALING, session) is None
    owners.apply(_claim(partition, "http://b:8003", 2, "b"))
    assert upstreams.base_url(Upstream.SIGNALING, session) == "http://b:8003"
    # The old owner's late withdrawal (an older generation) does not undo the takeover.
    owners.apply(_claim(partition, "http://a:8003", 1, "a", ready=False))
    assert upstreams.base_url(Upstream.SIGNALING, session) == "http://b:8003"


def test_a_recreated_group_starting_again_at_generation_one_still_takes_over() -> None:
    upstreams, owners = _directory([])
    session = str(uuid.uuid4())
    partition = partition_of(session, PARTITIONS)
    owners.apply(_claim(partition, "http://old:8003", 40, "old"))
    owners.apply(_claim(partition, "http://new:8003", 1, "new"))
    assert upstreams.base_url(Upstream.SIGNALING, session) == "http://new:8003"


def test_partitions_are_kafkas_default_partitioners() -> None:
    # What a producer letting Kafka choose would pick (the Java client's murmur2 partitioner,
    # as aiokafka implements it), so every reader maps a session to the same partition.
    partitions = list(range(PARTITIONS))
    for n in range(200):
        session = str(uuid.UUID(int=n))
        expected = DefaultPartitioner()(session.encode(), partitions, partitions)
        assert partition_of(session, PARTITIONS) == expected
