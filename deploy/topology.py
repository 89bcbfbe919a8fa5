"""What a deployment of Rapport is made of, said once: processes, ports, settings, topics, Kafka.

``python -m deploy.manifests`` renders docker-compose.yml, the Kubernetes manifests under
deploy/kubernetes/ and the README's configuration reference from this module and from the
settings classes; ``--check`` (a unit test) fails when a committed file differs. Ports and
environment variable names are read from the settings classes, never typed here again.

A new service is one more :class:`Service` in :data:`SERVICES` (a test fails while a package
under services/ with a settings module is missing from it).
"""

from __future__ import annotations

import importlib
import typing
from dataclasses import dataclass
from typing import Final

from pydantic_settings import BaseSettings

from shared.events import catalog

#: The broker the development launcher runs (devservers/kafka) and the compose image's tag:
#: the same Apache Kafka, so what `make run` and the tests exercise is what compose runs.
KAFKA_VERSION: Final = "4.4.0"
POSTGRES_IMAGE: Final = "postgres:16"

#: The Strimzi release whose CRD schemas the manifests are validated against, and the newest
#: Kafka that release runs (its kafka-versions.yaml): Strimzi has no 4.4 yet. Clients and
#: brokers of 4.3 and 4.4 speak the same protocol versions the services use.
STRIMZI_VERSION: Final = "1.2.0"
STRIMZI_KAFKA_VERSION: Final = "4.3.1"
STRIMZI_METADATA_VERSION: Final = "4.3-IV0"
#: The Strimzi ``Kafka`` resource's name; its bootstrap Service is <name>-kafka-bootstrap.
KAFKA_CLUSTER: Final = "rapport"
KAFKA_BROKERS: Final = 3
KAFKA_REPLICATION_FACTOR: Final = 3
KAFKA_MIN_INSYNC_REPLICAS: Final = 2

#: The image every process runs (deploy/Dockerfile); overlays set the registry and tag.
IMAGE: Final = "rapport"

# What the production overlay sets: a site changes these and renders again, or keeps an
# overlay of its own with overlays/production as its resource and its own images/literals.
NAMESPACE: Final = "rapport"
PRODUCTION_IMAGE: Final = "registry.example.org/rapport"
PRODUCTION_TAG: Final = "0.1.0"
#: The origin of the public pages: the only one whose pages may open signaling sockets.
PUBLIC_ORIGIN: Final = "https://rapport.example.org"
#: The pod network: the services believe X-Forwarded-For from there only (the network
#: policies let nothing but the gateway in). Narrow it to the cluster's pod CIDR.
POD_NETWORK: Final = "10.0.0.0/8"
#: The label every Rapport pod carries; the Kafka listener admits only pods with it.
PART_OF: Final = "rapport"


@dataclass(frozen=True)
class Resources:
    """Kubernetes requests and limits of one container."""

    cpu_request: str = "100m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class Service:
    """One Rapport process: how it is started, configured and scaled."""

    name: str
    #: The package ``python -m <package> serve|migrate`` runs.
    package: str
    settings_class: str
    #: Owns a database (and so Alembic migrations and a migration Job).
    has_database: bool = True
    min_replicas: int = 2
    max_replicas: int = 6
    resources: Resources = Resources()
    #: Settings that hold keys or passwords: from a Secret, never a ConfigMap or the manifest.
    secret_settings: tuple[str, ...] = ()
    #: The only peers allowed in: the gateway, plus the services that call this one directly.
    reached_by_services: bool = False
    #: Calls partners' URLs on the internet (webhook deliveries).
    reaches_internet: bool = False
    #: What the Kubernetes readiness probe asks.
    readiness_path: str = "/readyz"

    def settings(self) -> type[BaseSettings]:
        module = importlib.import_module(f"{self.package}.settings")
        settings: type[BaseSettings] = getattr(module, self.settings_class)
        return settings

    @property
    def env_prefix(self) -> str:
        return str(self.settings().model_config.get("env_prefix", ""))

    @property
    def port(self) -> int:
        port: int = self.settings().model_fields["port"].default
        return port

    def env(self, field: str) -> str:
        """The environment variable of one of this service's own (prefixed) settings."""
        if field not in self.settings().model_fields:
            raise KeyError(f"{self.settings_class} has no setting {field!r}")
        return f"{self.env_prefix}{field}".upper()


IDENTITY = Service(
    "identity",
    "services.identity",
    "IdentitySettings",
    secret_settings=("database_url", "secrets_key"),
    # Every service fetches identity's JWKS (RAPPORT_JWKS_URL) to verify tokens.
    reached_by_services=True,
)
RECORDS = Service(
    "records", "services.records", "RecordsSettings", secret_settings=("database_url",)
)
#: Rooms live in one signaling process's memory and the gateway picks the process by hashing the
#: session id over a fixed list of addresses, so signaling runs as a StatefulSet (stable
#: addresses the gateway lists) with a fixed replica count; its autoscaler is a separate
#: kustomize component to enable once rooms move between processes on their own.
SIGNALING = Service(
    "signaling",
    "services.signaling",
    "SignalingSettings",
    min_replicas=2,
    max_replicas=8,
    # The pre-call echo test runs a server-side aiortc peer per caller.
    resources=Resources(cpu_request="200m", memory_request="384Mi", memory_limit="1Gi"),
    secret_settings=("database_url", "turn_secret"),
)
WEBHOOKS = Service(
    "webhooks",
    "services.webhooks",
    "WebhooksSettings",
    secret_settings=("database_url",),
    reaches_internet=True,
)
#: The gateway's /readyz is ready only when every upstream answers. As a readiness probe that
#: would take every gateway pod out of the load balancer when one signaling pod restarts, and
#: so every route with it; the gateway answers 502/503 for the one upstream that is down, so
#: Kubernetes asks whether the gateway itself is up. (Compose still waits on its /readyz.)
GATEWAY = Service(
    "gateway", "gateway", "GatewaySettings", has_database=False, readiness_path="/healthz"
)

#: Every process, in start order (the gateway last: it fronts the others).
#: A notifications service is under way elsewhere: it joins here, before the gateway, when it
#: lands (with its settings class, database and secrets); the manifests then follow by rendering.
SERVICES: Final[tuple[Service, ...]] = (IDENTITY, RECORDS, SIGNALING, WEBHOOKS, GATEWAY)
BACKENDS: Final[tuple[Service, ...]] = tuple(s for s in SERVICES if s is not GATEWAY)


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int


_DAY_MS = 24 * 3600 * 1000
#: One aggregate's events share a partition (catalog.Payload.key_field); six spreads the
#: consumers of a group over up to six processes. Raising it later moves keys between partitions.
EVENT_PARTITIONS: Final = 6
EVENT_RETENTION_MS: Final = 7 * _DAY_MS
#: Dead letters wait for a person: long enough to survive a holiday before they are redriven.
DEAD_LETTER_PARTITIONS: Final = 1
DEAD_LETTER_RETENTION_MS: Final = 28 * _DAY_MS


def event_topics() -> list[str]:
    """Every topic an event in the catalog is published to."""
    [union, *_] = typing.get_args(catalog.EventPayload)
    return sorted({payload.topic for payload in typing.get_args(union)})


def topics() -> list[Topic]:
    """Each event topic and its dead-letter topic (any consumer may dead-letter what it reads)."""
    result: list[Topic] = []
    for name in event_topics():
        result.append(Topic(name, EVENT_PARTITIONS, EVENT_RETENTION_MS))
        result.append(
            Topic(catalog.dead_letter_topic(name), DEAD_LETTER_PARTITIONS, DEAD_LETTER_RETENTION_MS)
        )
    return result
