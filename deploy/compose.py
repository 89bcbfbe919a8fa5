"""docker-compose.yml and the init SQL of its PostgreSQL.

Kafka at the launcher's version, a one-shot step that creates the topics Kubernetes declares,
PostgreSQL with a database per service, a one-shot migration per service, the services and the
gateway, each waiting on a condition for what it needs; state in named volumes.
"""

from __future__ import annotations

from typing import Any

from deploy import topology
from deploy.topology import (
    BACKENDS,
    GATEWAY,
    GENERATED,
    IDENTITY,
    SIGNALING,
    Service,
)

#: The gateway's fixed address on the compose network: the only peer whose X-Forwarded-For the
#: services believe. Not the whole subnet: connections to the published port arrive from the
#: network's own gateway address.
COMPOSE_SUBNET = "172.30.0.0/24"
COMPOSE_GATEWAY_ADDRESS = "172.30.0.10"
# Compose substitutes it from the environment, and refuses to start without it.
_PG_PASSWORD = "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"  # noqa: S105
# One value for both ends of notifications' calls to identity's internal API.
_NOTIFICATIONS_KEY = (
    "${RAPPORT_NOTIFICATIONS_SERVICE_KEY:?at least 32 random characters, e.g. openssl rand -hex 32}"
)


def _compose_env(service: Service) -> dict[str, str]:
    env = {
        **topology.deployment_wide("kafka:9092"),
        service.env("host"): "0.0.0.0",
        service.env("port"): str(service.port),
    }
    if service is GATEWAY:
        env.update(topology.gateway_upstreams([f"http://{SIGNALING.name}:{SIGNALING.port}"]))
        return env
    env[service.env("trusted_proxies")] = COMPOSE_GATEWAY_ADDRESS
    env[service.env("database_url")] = (
        f"postgresql+asyncpg://rapport:{_PG_PASSWORD}@postgres:5432/{service.name}"
    )
    if service is IDENTITY:
        # Seals TOTP secrets and signing keys at rest; identity refuses to start without it.
        env[service.env("secrets_key")] = (
            "${RAPPORT_IDENTITY_SECRETS_KEY:?"
            "base64 of 32 random bytes, e.g. openssl rand -base64 32}"
        )
    return env


def _http_check(service: Service, path: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{service.port}{path}"
    return {
        "test": ["CMD", "python", "-c", f"import urllib.request; urllib.request.urlopen('{url}')"],
        "interval": "10s",
        "timeout": "5s",
        "retries": 6,
    }


def kafka_topics_command() -> str:
    """Create every topic (as Kubernetes declares them) before any service starts."""
    create = []
    for topic in topology.topics():
        config = f" --config cleanup.policy={topic.cleanup_policy}"
        if topic.retention_ms is not None:
            config += f" --config retention.ms={topic.retention_ms}"
        else:
            config += " --config min.cleanable.dirty.ratio=0.1"
        create.append(
            f"/opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9092 --create"
            f" --if-not-exists --topic {topic.name} --partitions {topic.partitions}"
            f" --replication-factor 1{config}"
        )
    return " && ".join(create)


def compose() -> dict[str, Any]:
    build = {"context": ".", "dockerfile": "deploy/Dockerfile"}
    image = f"{topology.IMAGE}:local"
    services: dict[str, Any] = {
        "kafka": {
            "image": f"apache/kafka:{topology.KAFKA_VERSION}",
            "environment": {
                "KAFKA_NODE_ID": 1,
                "KAFKA_PROCESS_ROLES": "broker,controller",
                "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
                "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9092",
                "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@kafka:9093",
                "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
                "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "false",
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": 1,
                "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": 1,
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": 1,
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": 1,
                "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": 1,
                "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": 0,
            },
            "volumes": ["kafka-data:/var/lib/kafka/data"],
            "healthcheck": {
                "test": [
                    "CMD-SHELL",
                    "/opt/kafka/bin/kafka-topics.sh --bootstrap-server localhost:9092 --list",
                ],
                "interval": "10s",
                "timeout": "10s",
                "retries": 12,
            },
        },
        "kafka-topics": {
            "image": f"apache/kafka:{topology.KAFKA_VERSION}",
            "command": ["sh", "-c", kafka_topics_command()],
            "depends_on": {"kafka": {"condition": "service_healthy"}},
            "restart": "no",
        },
        "postgres": {
            "image": topology.POSTGRES_IMAGE,
            "environment": {"POSTGRES_USER": "rapport", "POSTGRES_PASSWORD": _PG_PASSWORD},
            "volumes": [
                "postgres-data:/var/lib/postgresql/data",
                "./deploy/postgres-init.sql:/docker-entrypoint-initdb.d/rapport.sql:ro",
            ],
            "healthcheck": {
                "test": ["CMD-SHELL", "pg_isready -U rapport"],
                "interval": "5s",
                "timeout": "5s",
                "retries": 12,
            },
        },
    }
    for service in BACKENDS:
        env = _compose_env(service)
        services[f"{service.name}-migrate"] = {
            "image": image,
            "build": build,
            "command": ["python", "-m", service.package, "migrate"],
            "environment": env,
            "depends_on": {"postgres": {"condition": "service_healthy"}},
            "restart": "no",
        }
        services[service.name] = {
            "image": image,
            "build": build,
            "command": ["python", "-m", service.package, "serve"],
            "restart": "unless-stopped",
            "environment": env,
            "depends_on": {
                "kafka": {"condition": "service_healthy"},
                "kafka-topics": {"condition": "service_completed_successfully"},
                "postgres": {"condition": "service_healthy"},
                f"{service.name}-migrate": {"condition": "service_completed_successfully"},
            },
            "healthcheck": _http_check(service, "/readyz"),
        }
    services[GATEWAY.name] = {
        "image": image,
        "build": build,
        "command": ["python", "-m", GATEWAY.package],
        "restart": "unless-stopped",
        # The only published port: everything else is reached through the gateway.
        "ports": [f"{GATEWAY.port}:{GATEWAY.port}"],
        "networks": {"default": {"ipv4_address": COMPOSE_GATEWAY_ADDRESS}},
        "environment": _compose_env(GATEWAY),
        "depends_on": {
            "kafka": {"condition": "service_healthy"},
            **{s.name: {"condition": "service_healthy"} for s in BACKENDS},
        },
        "healthcheck": _http_check(GATEWAY, "/readyz"),
    }
    return {
        "name": "rapport",
        "networks": {"default": {"ipam": {"config": [{"subnet": COMPOSE_SUBNET}]}}},
        "services": services,
        "volumes": {"kafka-data": {}, "postgres-data": {}},
    }


HEADER = f"""\
# Rapport in containers: Kafka (KRaft, the official image at the launcher's version), its topics,
# PostgreSQL, each service's migration, the services and the gateway. Each step waits for what
# it needs to be healthy (or finished). Set POSTGRES_PASSWORD and RAPPORT_IDENTITY_SECRETS_KEY.
# {GENERATED}
"""


def postgres_init() -> str:
    lines = [
        "-- Each service owns its database (docker compose creates them on first start).",
        f"-- {GENERATED}",
    ]
    lines += [f"CREATE DATABASE {s.name};" for s in BACKENDS]
    return "\n".join(lines) + "\n"
