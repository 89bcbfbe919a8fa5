"""docker-compose.yml must match the code: commands, ports, environment, health checks.

There is no Docker engine on the build machines, so the file is checked against the settings
classes and the compose specification's JSON schema instead of being run. It is generated
(python -m deploy.manifests); these tests read what is committed.
"""

from __future__ import annotations

import base64
import copy
import importlib
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
APP_SERVICES = {
    "identity": ("services.identity", "IdentitySettings"),
    "records": ("services.records", "RecordsSettings"),
    "signaling": ("services.signaling", "SignalingSettings"),
    "webhooks": ("services.webhooks", "WebhooksSettings"),
    "notifications": ("services.notifications", "NotificationsSettings"),
    "gateway": ("gateway", "GatewaySettings"),
}


def compose_spec_errors(compose: dict[str, Any]) -> list[str]:
    schema = get_builtin_schema("vendor.compose-spec")
    validator = jsonschema.Draft202012Validator(schema)
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(json.loads(json.dumps(compose)))
    ]


def _settings_class(name: str) -> type[BaseSettings]:
    package, class_name = APP_SERVICES[name]
    return getattr(importlib.import_module(f"{package}.settings"), class_name)


def _accepted_env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in settings.model_fields.items():
        names.add(f"{prefix}{field_name}".upper())
        alias = field.validation_alias
        choices: list[Any] = getattr(alias, "choices", [alias] if alias else [])
        names.update(str(c).upper() for c in choices if isinstance(c, str))
    return names


def _command(spec: dict[str, Any]) -> str:
    command = spec["command"]
    return " ".join(command) if isinstance(command, list) else command


def test_every_process_is_in_compose() -> None:
    migrations = {f"{name}-migrate" for name in APP_SERVICES if name != "gateway"}
    infrastructure = {"kafka", "kafka-topics", "postgres"}
    assert set(APP_SERVICES) | migrations | infrastructure == set(COMPOSE["services"])


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_command_runs_the_service_module(name: str) -> None:
    package, _ = APP_SERVICES[name]
    assert (ROOT / package.replace(".", "/") / "__main__.py").exists()
    if name == "gateway":
        assert _command(COMPOSE["services"][name]) == f"python -m {package}"
        return
    assert _command(COMPOSE["services"][name]) == f"python -m {package} serve"
    # Every service migrates its own database, as a step of its own, before it serves.
    assert _command(COMPOSE["services"][f"{name}-migrate"]) == f"python -m {package} migrate"
    depends = COMPOSE["services"][name]["depends_on"]
    assert depends[f"{name}-migrate"] == {"condition": "service_completed_successfully"}
    migrate = COMPOSE["services"][f"{name}-migrate"]
    assert migrate["environment"] == COMPOSE["services"][name]["environment"]
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_ports_and_health_checks_match_settings(name: str) -> None:
    spec = COMPOSE["services"][name]
    settings = _settings_class(name)
    prefix = settings.model_config["env_prefix"]
    port = int(spec["environment"][f"{prefix}PORT"])
    assert port == settings.model_fields["port"].default, "compose and code disagree on the port"
    # Only the gateway is published: the services are reached through it.
    assert spec.get("ports", []) == ([f"{port}:{port}"] if name == "gateway" else [])
    assert spec["environment"][f"{prefix}HOST"] == "0.0.0.0"
    health = " ".join(spec["healthcheck"]["test"])
    assert f"127.0.0.1:{port}/readyz" in health


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_every_environment_variable_is_a_real_setting(name: str) -> None:
    accepted = _accepted_env_names(_settings_class(name))
    unknown = set(COMPOSE["services"][name]["environment"]) - accepted
    assert not unknown, f"{name}: compose sets variables the code ignores: {sorted(unknown)}"


@pytest.mark.parametrize("name", ["identity", "records", "signaling", "webhooks"])
def test_each_service_has_its_own_postgres_database(name: str) -> None:
    settings = _settings_class(name)
    env = COMPOSE["services"][name]["environment"]
    url = env[f"{settings.model_config['env_prefix']}DATABASE_URL"]
    assert url.startswith("postgresql+asyncpg://") and url.endswith(f"/{name}")
    init_sql = (ROOT / "deploy/postgres-init.sql").read_text()
    assert f"CREATE DATABASE {name};" in init_sql


def test_gateway_upstreams_point_at_the_compose_services() -> None:
    env = COMPOSE["services"]["gateway"]["environment"]
    for name in ["identity", "records", "webhooks"]:
        port = _settings_class(name).model_fields["port"].default
        assert env[f"RAPPORT_GATEWAY_{name.upper()}_URL"] == f"http://{name}:{port}"
    port = _settings_class("signaling").model_fields["port"].default
    assert env["RAPPORT_GATEWAY_SIGNALING_URLS"] == f"http://signaling:{port}"


def test_services_wait_for_healthy_dependencies() -> None:
    allowed = {"service_healthy", "service_completed_successfully"}
    for name, spec in COMPOSE["services"].items():
        for dependency, condition in spec.get("depends_on", {}).items():
            assert condition["condition"] in allowed, (name, dependency)
            # A one-shot step is waited for until it finished; a server until it is healthy.
            one_shot = COMPOSE["services"][dependency].get("restart") == "no"
            assert (condition["condition"] == "service_completed_successfully") == one_shot
    for name in APP_SERVICES:
        assert {"kafka"} <= set(COMPOSE["services"][name]["depends_on"])
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "broker,controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]


def test_compose_runs_the_kafka_the_launcher_and_the_tests_run() -> None:
    from devservers.kafka.launcher import KAFKA_VERSION

    pom = (ROOT / "devservers" / "kafka" / "pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom
    assert COMPOSE["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"
    assert COMPOSE["services"]["kafka-topics"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_state_lives_in_named_volumes() -> None:
    # A named volume outlives `docker compose down` (without -v); a container's layer does not.
    mounts = {
        name: COMPOSE["services"][name]["volumes"][0].split(":") for name in ("kafka", "postgres")
    }
    assert mounts["kafka"][1] == COMPOSE["services"]["kafka"]["environment"]["KAFKA_LOG_DIRS"]
    assert mounts["postgres"][1] == "/var/lib/postgresql/data"
    assert {mounts["kafka"][0], mounts["postgres"][0]} == set(COMPOSE["volumes"])


def test_compose_file_is_valid_for_the_compose_specification() -> None:
    # The compose-spec JSON schema that check-jsonschema ships (its vendored copy).
    assert compose_spec_errors(COMPOSE) == []


def test_the_compose_schema_check_refuses_a_broken_file() -> None:
    broken = copy.deepcopy(COMPOSE)
    broken["services"]["identity"]["depends_on"]["postgres"]["condition"] = "service_ready"
    broken["services"]["records"]["healthcheck"]["retries"] = "six"
    assert len(compose_spec_errors(broken)) == 2


def test_identity_gets_its_secrets_key_and_compose_refuses_to_start_without_one() -> None:
    # Compose runs in production, where identity will not start without the key that seals
    # TOTP secrets and signing keys; `${VAR:?message}` makes compose say so before starting.
    env = COMPOSE["services"]["identity"]["environment"]
    assert env["RAPPORT_ENVIRONMENT"] == "production"
    assert re.fullmatch(
        r"\$\{RAPPORT_IDENTITY_SECRETS_KEY:\?.+\}", env["RAPPORT_IDENTITY_SECRETS_KEY"]
    )


def test_the_image_holds_the_pages_where_the_gateway_looks_for_them() -> None:
    from gateway.pages import default_web_root

    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    # The image's /app mirrors the repository root, so the default web root must be <root>/web.
    assert default_web_root() == ROOT / "web"
    assert "COPY web/public ./web/public" in dockerfile
    assert "COPY --from=web /web/node_modules ./web/node_modules" in dockerfile


@pytest.mark.parametrize("name", ["identity", "records", "signaling", "webhooks"])
def test_each_service_believes_forwarded_addresses_from_the_gateway_only(name: str) -> None:
    # Otherwise every audit row and login limit would carry the gateway's own address.
    gateway_address = COMPOSE["services"]["gateway"]["networks"]["default"]["ipv4_address"]
    [subnet] = [c["subnet"] for c in COMPOSE["networks"]["default"]["ipam"]["config"]]
    assert ipaddress.ip_address(gateway_address) in ipaddress.ip_network(subnet)
    settings = _settings_class(name)(
        trusted_proxies=COMPOSE["services"][name]["environment"][
            f"{_settings_class(name).model_config['env_prefix']}TRUSTED_PROXIES"
        ]
    )
    assert settings.trusted_proxies == [gateway_address]
    # The gateway itself has no proxy in front of it here: it believes nobody's headers.
    assert "RAPPORT_GATEWAY_TRUSTED_PROXIES" not in COMPOSE["services"]["gateway"]["environment"]


def test_make_run_has_the_services_believe_the_local_gateway() -> None:
    from honcho.environ import parse_procfile

    processes = parse_procfile((ROOT / "deploy" / "Procfile").read_text()).processes
    for name in ["identity", "records", "signaling", "webhooks"]:
        assert processes[name].startswith(f"RAPPORT_{name.upper()}_TRUSTED_PROXIES=127.0.0.1 ")
    assert "TRUSTED_PROXIES" not in processes["gateway"]


def test_the_image_leaves_out_the_dev_and_test_servers() -> None:
    # The Kafka and PostgreSQL launchers are for tests, benches and `make run`; the image
    # copies the packages production runs, and import-linter keeps those off devservers.
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (?!--from)(\S+)", dockerfile, flags=re.MULTILINE)
    assert "deploy" in copied and "services" in copied
    assert not [src for src in copied if src.startswith("devservers")]
    assert not (ROOT / "deploy" / "kafka").exists()
    assert not (ROOT / "deploy" / "postgres").exists()


@pytest.mark.parametrize("name", sorted(APP_SERVICES))
def test_each_service_environment_loads_into_its_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The values must parse too, with what an operator exports substituted as compose does.
    exported = {
        "POSTGRES_PASSWORD": "secret",
        "RAPPORT_IDENTITY_SECRETS_KEY": base64.b64encode(bytes(range(32))).decode(),
    }
    for variable in list(os.environ):
        if variable.startswith("RAPPORT_"):
            monkeypatch.delenv(variable)
    for variable, value in COMPOSE["services"][name]["environment"].items():
        substituted = re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: exported[m[1]], str(value))
        monkeypatch.setenv(variable, substituted)
    settings: Any = _settings_class(name)()
    assert settings.environment == "production"
    assert settings.kafka_bootstrap == "kafka:9092"
    if name != "gateway":
        assert settings.database_url.endswith(f"rapport:secret@postgres:5432/{name}")
    if name == "identity":
        assert len(settings.secrets_key_bytes()) == 32
