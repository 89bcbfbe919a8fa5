"""The Kubernetes manifests: valid for Kubernetes and Strimzi, complete, and in step with the code.

They are generated (python -m deploy.manifests) from deploy/topology.py and the settings
classes; these tests read what is committed under deploy/kubernetes/, so a hand edit that
breaks a schema or drifts from the code fails here as surely as a stale rendering.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
import shutil
import subprocess
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from deploy import manifests, reference, topology
from devservers import kustomize
from shared import room_owners
from shared.events import catalog
from tests.unit.deploy.manifest_schemas import ManifestInvalid, validate
from tests.unit.deploy.test_compose import _accepted_env_names

ROOT = Path(__file__).resolve().parents[3]
KUBERNETES = ROOT / "deploy" / "kubernetes"
BACKENDS = ["identity", "records", "signaling", "webhooks"]


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


@functools.cache
def _parsed() -> tuple[tuple[Path, dict[str, Any]], ...]:
    return tuple(
        (path.relative_to(ROOT), document)
        for path in sorted(KUBERNETES.rglob("*.yaml"))
        for document in _documents(path)
    )


def _all() -> Iterator[tuple[Path, dict[str, Any]]]:
    # Copies: a test that edits a document does not edit the next test's.
    for path, document in _parsed():
        yield path, copy.deepcopy(document)


def _kind(kind: str, directory: str = "") -> list[dict[str, Any]]:
    return [d for p, d in _all() if d["kind"] == kind and str(p).startswith(directory)]


def _named(kind: str, name: str) -> dict[str, Any]:
    [document] = [d for d in _kind(kind) if d["metadata"]["name"] == name]
    return document


def _workload(name: str) -> dict[str, Any]:
    return _named("Deployment", name)


def _settings(name: str) -> type[BaseSettings]:
    [service] = [s for s in topology.SERVICES if s.name == name]
    return service.settings()


# One source -------------------------------------------------------------------------------


def test_the_committed_files_are_what_the_source_renders() -> None:
    # compose, the manifests, the init SQL and the README's configuration reference.
    assert manifests.stale() == [], "run python -m deploy.manifests"
    assert list(manifests.orphans()) == []


def test_every_service_package_is_deployed() -> None:
    # A new service (notifications is on its way) fails here until deploy/topology.py has it.
    packages = {p.parent.name for p in (ROOT / "services").glob("*/settings.py")}
    deployed = {s.package.removeprefix("services.") for s in topology.BACKENDS}
    assert packages == deployed
    assert {s.name for s in topology.SERVICES} == deployed | {"gateway"}


def test_topics_are_the_catalogs_their_dead_letter_topics_and_signalings() -> None:
    [union, *_] = typing.get_args(catalog.EventPayload)
    published = {payload.topic for payload in typing.get_args(union)}
    declared = {d["spec"]["topicName"] for d in _kind("KafkaTopic")}
    rooms, owners = "rapport.signaling.rooms", "rapport.signaling.owners"
    assert declared == published | {catalog.dead_letter_topic(t) for t in published} | {
        rooms,
        owners,
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    creates = " ".join(compose["services"]["kafka-topics"]["command"])
    assert {t for t in declared if f"--topic {t} " in creates} == declared


def test_signalings_topics_are_compacted_as_the_code_creates_them() -> None:
    signaling: Any = _settings("signaling")()
    gateway: Any = _settings("gateway")()
    assert signaling.rooms_topic == room_owners.ROOMS_TOPIC
    assert room_owners.OWNERS_TOPIC == signaling.owners_topic == gateway.signaling_owners_topic
    by_name = {d["spec"]["topicName"]: d["spec"] for d in _kind("KafkaTopic")}
    # Session ids map to partitions by the count: the declared one is the one signaling uses.
    assert by_name[signaling.rooms_topic]["partitions"] == signaling.rooms_partitions
    assert by_name[signaling.owners_topic]["partitions"] == 1
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    [command] = compose["services"]["kafka-topics"]["command"][-1:]
    creates = {c.split("--topic ")[1].split()[0]: c for c in command.split(" && ")}
    for name, spec in by_name.items():
        compacted = name in (signaling.rooms_topic, signaling.owners_topic)
        policy = "compact" if compacted else "delete"
        assert spec["config"]["cleanup.policy"] == policy, name
        # A compacted topic keeps each room's latest state however old: no retention.
        assert ("retention.ms" in spec["config"]) != compacted, name
        assert f"--config cleanup.policy={policy}" in creates[name]
        assert f"--partitions {spec['partitions']} " in creates[name]


@pytest.mark.parametrize("name", [s.name for s in topology.SERVICES])
def test_ports_are_the_settings_ports(name: str) -> None:
    port = _settings(name).model_fields["port"].default
    container = _workload(name)["spec"]["template"]["spec"]["containers"][0]
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    assert _named("Service", name)["spec"]["ports"][0]["port"] == port
    env = {e["name"]: e.get("value") for e in container["env"]}
    prefix = _settings(name).model_config["env_prefix"]
    assert env[f"{prefix}PORT"] == str(port) and env[f"{prefix}HOST"] == "0.0.0.0"


@pytest.mark.parametrize("name", [s.name for s in topology.SERVICES])
def test_every_environment_variable_is_a_real_setting(name: str) -> None:
    accepted = _accepted_env_names(_settings(name))
    pods = [_workload(name)] + [
        j for j in _kind("Job") if j["metadata"]["name"] == f"{name}-migrate"
    ]
    for pod in pods:
        [container] = pod["spec"]["template"]["spec"]["containers"]
        # Downward-API inputs (the pod's IP) only feed $(...) in the settings' values.
        names = {e["name"] for e in container["env"] if "fieldRef" not in e.get("valueFrom", {})}
        assert names <= accepted, f"{name} sets variables the code ignores: {names - accepted}"
        assert container["envFrom"] == [{"configMapRef": {"name": "rapport-config"}}]


def test_the_shared_config_holds_only_real_settings() -> None:
    # Every pod reads the ConfigMap; each name must be read by at least one of them.
    accepted = set().union(*(_accepted_env_names(s.settings()) for s in topology.SERVICES))
    config = _named("ConfigMap", "rapport-config")["data"]
    assert set(config) <= accepted
    assert config["RAPPORT_ENVIRONMENT"] == "production"


def test_the_gateway_reaches_every_backend_by_its_service_name() -> None:
    [container] = _workload("gateway")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    for name in ["identity", "records", "webhooks"]:
        port = _settings(name).model_fields["port"].default
        assert env[f"RAPPORT_GATEWAY_{name.upper()}_URL"] == f"http://{name}:{port}"
    # No static list of signaling pods (not even the default 127.0.0.1 one): each room's
    # owner comes from the owners topic, which the gateway follows.
    assert env["RAPPORT_GATEWAY_SIGNALING_URLS"] == ""
    assert env.get("RAPPORT_GATEWAY_SIGNALING_OWNERS", "true") == "true"
    gateway: Any = _settings("gateway")(signaling_urls=env["RAPPORT_GATEWAY_SIGNALING_URLS"])
    assert gateway.signaling_urls == [] and gateway.signaling_owners


def test_each_signaling_pod_advertises_its_own_address() -> None:
    [container] = _workload("signaling")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    port = _settings("signaling").model_fields["port"].default
    advertised = env["RAPPORT_SIGNALING_ADVERTISED_URL"]["value"]
    assert advertised == f"http://$(POD_IP):{port}"
    # $(POD_IP) expands only from a variable defined before it, here the pod's own IP.
    names = [e["name"] for e in container["env"]]
    assert names.index("POD_IP") < names.index("RAPPORT_SIGNALING_ADVERTISED_URL")
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["RAPPORT_SIGNALING_ROOMS_REPLICATION_FACTOR"]["value"] == str(
        topology.KAFKA_REPLICATION_FACTOR
    )


def test_signaling_has_time_to_drain_before_it_is_killed() -> None:
    pod = _workload("signaling")["spec"]["template"]["spec"]
    fields = _settings("signaling").model_fields
    drain = (
        fields["drain_successor_wait_seconds"].default
        + fields["drain_clients_wait_seconds"].default
    )
    # The drain, then the ordinary shutdown every other service gets.
    others = _workload("records")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert pod["terminationGracePeriodSeconds"] >= drain + others


def test_secrets_come_from_secrets_and_none_is_committed() -> None:
    for secret in _kind("Secret"):
        assert set(secret["stringData"].values()) == {""}, secret["metadata"]["name"]
    for name in BACKENDS:
        [container] = _workload(name)["spec"]["template"]["spec"]["containers"]
        from_secret = {e["name"] for e in container["env"] if "valueFrom" in e}
        prefix = _settings(name).model_config["env_prefix"]
        assert f"{prefix}DATABASE_URL" in from_secret
        plain = {e["name"]: e.get("value", "") for e in container["env"] if "value" in e}
        assert not [k for k, v in plain.items() if "postgres" in v or "KEY" in k or "SECRET" in k]
    [identity] = _workload("identity")["spec"]["template"]["spec"]["containers"]
    key = next(e for e in identity["env"] if e["name"] == "RAPPORT_IDENTITY_SECRETS_KEY")
    assert key["valueFrom"]["secretKeyRef"] == {
        "name": "identity-secrets",
        "key": "RAPPORT_IDENTITY_SECRETS_KEY",
    }
    overlay = KUBERNETES / "overlays" / "production"
    ignored = (ROOT / ".gitignore").read_text()
    assert "deploy/kubernetes/overlays/*/*.env" in ignored
    for generator in _documents(overlay / "kustomization.yaml")[0]["secretGenerator"]:
        [env_file] = generator["envs"]
        assert (overlay / f"{env_file}.example").exists()


# What each process gets -------------------------------------------------------------------


@pytest.mark.parametrize("name", [s.name for s in topology.SERVICES])
def test_probes_and_resources(name: str) -> None:
    [container] = _workload(name)["spec"]["template"]["spec"]["containers"]
    # The gateway's /readyz needs every upstream: one signaling pod down would take the whole
    # edge out of its Service, so its probe asks only whether the gateway is up.
    ready = "/healthz" if name == "gateway" else "/readyz"
    assert container["readinessProbe"]["httpGet"] == {"path": ready, "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    assert container["command"][-1] == "serve" or name == "gateway"


@pytest.mark.parametrize("name", [s.name for s in topology.SERVICES])
def test_autoscaler_and_disruption_budget(name: str) -> None:
    workload = _workload(name)
    selector = workload["spec"]["selector"]["matchLabels"]
    budget = _named("PodDisruptionBudget", name)
    assert budget["spec"]["selector"]["matchLabels"] == selector
    # Every service scales in the base, signaling too (rooms move between its processes).
    [autoscaler] = [
        a
        for a in _kind("HorizontalPodAutoscaler", "deploy/kubernetes/base")
        if a["metadata"]["name"] == name
    ]
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", name)
    # The autoscaler owns the count; a replicas field would reset it on each apply.
    assert "replicas" not in workload["spec"]
    assert autoscaler["spec"]["minReplicas"] >= 2
    assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
    if name == "signaling":
        # A pod beyond the rooms topic's partitions would own no room.
        partitions = _settings("signaling").model_fields["rooms_partitions"].default
        assert autoscaler["spec"]["maxReplicas"] <= partitions


@pytest.mark.parametrize("name", BACKENDS)
def test_one_migration_job_per_service(name: str) -> None:
    job = _named("Job", f"{name}-migrate")
    [container] = job["spec"]["template"]["spec"]["containers"]
    package = f"services.{name}"
    assert container["command"] == ["python", "-m", package, "migrate"]
    assert (ROOT / "services" / name / "migrations").is_dir()
    [server] = _workload(name)["spec"]["template"]["spec"]["containers"]
    # The migration sees the same database (and keys) as the server.
    assert container["env"] == server["env"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_only_the_gateway_reaches_the_services() -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in _kind("NetworkPolicy")}
    deny = policies.pop("rapport-default-deny")
    assert deny["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "rapport"}
    assert deny["policyTypes"] == ["Ingress", "Egress"] and deny["ingress"] == []
    scraper = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    for name in BACKENDS:
        port = _settings(name).model_fields["port"].default
        ingress = policies[name]["ingress"]
        peers = [peer for rule in ingress for peer in rule["from"] if peer != scraper]
        expected = (
            # Every service fetches identity's JWKS.
            {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "rapport"}}}
            if name == "identity"
            else {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "gateway"}}}
        )
        assert peers == [expected], name
        assert all(rule["ports"] == [{"protocol": "TCP", "port": port}] for rule in ingress)
        egress_ports = {p["port"] for rule in policies[name]["egress"] for p in rule["ports"]}
        assert {9092, 5432, 53} <= egress_ports, f"{name} must reach Kafka, PostgreSQL, DNS"
    # Webhooks delivers to the internet, never into the cluster's private ranges.
    internet = [r for r in policies["webhooks"]["egress"] if "ipBlock" in r["to"][0]]
    assert internet[0]["to"][0]["ipBlock"]["except"][:3] == [
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
    ]
    assert not [
        r
        for n in BACKENDS
        if n != "webhooks"
        for r in policies[n]["egress"]
        if "ipBlock" in r["to"][0]
    ]
    # Kafka itself admits Rapport's pods only.
    [listener] = _named("Kafka", "rapport")["spec"]["kafka"]["listeners"]
    assert listener["networkPolicyPeers"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "rapport"}}}
    ]


# Strimzi ----------------------------------------------------------------------------------


def test_kafka_is_kraft_three_nodes_replicated_three_times() -> None:
    kafka = _named("Kafka", "rapport")["spec"]
    assert "zookeeper" not in kafka
    config = kafka["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["transaction.state.log.min.isr"] == 2
    [pool] = _kind("KafkaNodePool")
    assert pool["metadata"]["labels"] == {"strimzi.io/cluster": "rapport"}
    assert pool["spec"]["replicas"] == 3
    assert sorted(pool["spec"]["roles"]) == ["broker", "controller"]
    for topic in _kind("KafkaTopic"):
        assert topic["metadata"]["labels"] == {"strimzi.io/cluster": "rapport"}
        assert topic["spec"]["replicas"] == 3
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        assert topic["spec"]["partitions"] >= 1
        config = topic["spec"]["config"]
        assert config["cleanup.policy"] == "compact" or config["retention.ms"] > 0
    bootstrap = _named("ConfigMap", "rapport-config")["data"]["RAPPORT_KAFKA_BOOTSTRAP"]
    assert bootstrap == "rapport-kafka-bootstrap:9092"


def test_strimzi_runs_a_kafka_it_supports() -> None:
    # Strimzi 1.2.0's kafka-versions.yaml: 4.3.1 is its newest; the schema cannot tell.
    version = _named("Kafka", "rapport")["spec"]["kafka"]["version"]
    assert version == topology.STRIMZI_KAFKA_VERSION == "4.3.1"
    assert topology.STRIMZI_VERSION in str(next((ROOT / "tests/unit/deploy/schemas").iterdir()))


# Validation -------------------------------------------------------------------------------


def _manifests() -> list[tuple[Path, dict[str, Any]]]:
    return [(p, d) for p, d in _all() if d["kind"] not in {"Kustomization", "Component"}]


@pytest.mark.parametrize(
    "document",
    [d for _, d in _manifests()],
    ids=[f"{d['kind']}/{d['metadata']['name']}" for _, d in _manifests()],
)
def test_every_manifest_is_valid_for_its_schema(document: dict[str, Any]) -> None:
    validate(document)


def test_every_file_is_in_a_kustomization() -> None:
    for kustomization in KUBERNETES.rglob("kustomization.yaml"):
        [spec] = _documents(kustomization)
        for resource in spec["resources"]:
            assert (kustomization.parent / resource).exists(), (kustomization, resource)
    listed = {
        (k.parent / r).resolve()
        for k in KUBERNETES.rglob("kustomization.yaml")
        for r in _documents(k)[0]["resources"]
    }
    manifest_files = {
        p.resolve() for p in KUBERNETES.rglob("*.yaml") if p.name != "kustomization.yaml"
    }
    assert manifest_files <= listed


def _broken(kind: str, name: str, edit: Any) -> dict[str, Any]:
    document = copy.deepcopy(_named(kind, name))
    edit(document)
    return document


@pytest.mark.parametrize(
    ("kind", "name", "edit"),
    [
        # An unknown field (a typo of "replicas"): strict, as kubectl apply --validate=strict.
        ("Deployment", "records", lambda d: d["spec"].update(replica=3)),
        ("Deployment", "records", lambda d: d["spec"].update(replicas="three")),
        ("HorizontalPodAutoscaler", "records", lambda d: d["spec"].pop("maxReplicas")),
        ("NetworkPolicy", "records", lambda d: d["spec"]["ingress"][0].update(form=[])),
        ("Job", "records-migrate", lambda d: d["spec"].update(backoffLimit="six")),
        ("KafkaTopic", "rapport-records", lambda d: d["spec"].update(partitions="six")),
        ("KafkaTopic", "rapport-records", lambda d: d["spec"].update(replica=3)),
        ("KafkaNodePool", "dual-role", lambda d: d["spec"].pop("roles")),
        ("KafkaNodePool", "dual-role", lambda d: d["spec"].update(roles=["zookeeper"])),
        # Strimzi 1.x dropped ZooKeeper: the field does not exist any more.
        ("Kafka", "rapport", lambda d: d["spec"].update(zookeeper={"replicas": 3})),
        ("Kafka", "rapport", lambda d: d["spec"]["kafka"]["listeners"][0].pop("tls")),
    ],
)
def test_the_validator_refuses_a_broken_manifest(kind: str, name: str, edit: Any) -> None:
    with pytest.raises(ManifestInvalid):
        validate(_broken(kind, name, edit))


def test_a_kind_without_a_schema_is_refused() -> None:
    with pytest.raises(ManifestInvalid, match="no schema"):
        validate({"apiVersion": "example.org/v1", "kind": "Unknown", "metadata": {"name": "x"}})


# README -----------------------------------------------------------------------------------


def test_the_readme_lists_every_setting() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(reference.README_BEGIN)
    table = readme[start : readme.index(reference.README_END)]
    for service in topology.SERVICES:
        settings = service.settings()
        prefix = settings.model_config["env_prefix"]
        for name, field in settings.model_fields.items():
            choices = getattr(field.validation_alias, "choices", None)
            names = [c for c in choices or [] if isinstance(c, str) and c.isupper()]
            variable = names[0] if names else f"{prefix}{name}".upper()
            assert f"`{variable}`" in table, variable
    assert (
        json.dumps(["https://rapport.example.org"])
        in (KUBERNETES / "overlays/production/kustomization.yaml").read_text()
    )


# Rendered by kustomize --------------------------------------------------------------------


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(kustomize.binary()), "build", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _overlay(directory: Path, **spec: Any) -> Path:
    directory.mkdir()
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    (directory / "kustomization.yaml").write_text(yaml.safe_dump({**kustomization, **spec}))
    return directory


@pytest.fixture
def production(tmp_path: Path) -> Path:
    """A copy of deploy/kubernetes whose production overlay has its (example) secret files."""
    copy_root = tmp_path / "kubernetes"
    shutil.copytree(KUBERNETES, copy_root)
    overlay = copy_root / "overlays" / "production"
    for example in overlay.glob("*.env.example"):
        shutil.copy(example, overlay / example.name.removesuffix(".example"))
    return overlay


def test_the_production_overlay_renders_valid_manifests(production: Path) -> None:
    documents = _kustomize(production)
    for document in documents:
        validate(document)
        assert document["metadata"]["namespace"] == "rapport", document["metadata"]["name"]
    committed = {(d["kind"], d["metadata"]["name"]) for _, d in _manifests()}
    # Everything, signaling's autoscaler included.
    assert {(d["kind"], d["metadata"]["name"]) for d in documents} == committed
    assert ("HorizontalPodAutoscaler", "signaling") in committed
    images = {
        c["image"]
        for d in documents
        if d["kind"] in {"Deployment", "Job"}
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.example.org/rapport:0.1.0"}
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]
    assert json.loads(config["RAPPORT_SIGNALING_ALLOWED_ORIGINS"]) == [topology.PUBLIC_ORIGIN]
    assert config["RAPPORT_ENVIRONMENT"] == "production"
    identity = next(d for d in documents if d["metadata"]["name"] == "identity-secrets")
    assert "stringData" not in identity
    assert set(identity["data"]) == {
        "RAPPORT_IDENTITY_DATABASE_URL",
        "RAPPORT_IDENTITY_SECRETS_KEY",
    }


def test_the_production_overlay_refuses_to_render_without_its_secrets(production: Path) -> None:
    (production / "identity.env").unlink()
    with pytest.raises(RuntimeError, match="identity.env"):
        _kustomize(production)


# The values parse ---------------------------------------------------------------------------


def _secret_values(name: str) -> dict[str, str]:
    # What an operator puts in the overlay's <service>.env: a working key for identity.
    values = {
        f"RAPPORT_{name.upper()}_DATABASE_URL": f"postgresql+asyncpg://u:p@postgresql/{name}",
        "RAPPORT_IDENTITY_SECRETS_KEY": base64.b64encode(bytes(range(32))).decode(),
        "RAPPORT_SIGNALING_TURN_SECRET": "turn",
        "RAPPORT_IDENTITY_NOTIFICATIONS_KEY": "k" * 32,
        "RAPPORT_NOTIFICATIONS_IDENTITY_KEY": "k" * 32,
        "RAPPORT_NOTIFICATIONS_UNSUBSCRIBE_KEY": "u" * 32,
        "RAPPORT_NOTIFICATIONS_SMTP_PASSWORD": "smtp",
    }
    return values


@pytest.mark.parametrize("name", [s.name for s in topology.SERVICES])
def test_each_pod_environment_loads_into_its_settings(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not only the names: the values must parse (lists as the settings read them, networks,
    # JSON), the way the process will read them in the cluster.
    for variable in list(os.environ):
        if variable.startswith("RAPPORT_"):
            monkeypatch.delenv(variable)
    environment = dict(_named("ConfigMap", "rapport-config")["data"])
    [container] = _workload(name)["spec"]["template"]["spec"]["containers"]
    pod_ip = "10.1.2.3"
    for entry in container["env"]:
        if "value" in entry:
            # As the kubelet does: $(NAME) of a variable defined above is replaced.
            value = entry["value"]
            for earlier, known in environment.items():
                value = value.replace(f"$({earlier})", known)
            environment[entry["name"]] = value
        elif "fieldRef" in entry["valueFrom"]:
            assert entry["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP"
            environment[entry["name"]] = pod_ip
        else:
            environment[entry["name"]] = _secret_values(name)[entry["name"]]
    for variable, value in environment.items():
        monkeypatch.setenv(variable, value)
    settings: Any = _settings(name)()
    assert settings.environment == "production"
    assert settings.host == "0.0.0.0"
    assert settings.kafka_bootstrap == "rapport-kafka-bootstrap:9092"
    if name != "gateway":
        assert settings.trusted_proxies == [topology.POD_NETWORK]
        assert settings.database_url.startswith("postgresql+asyncpg://")
    if name == "identity":
        assert len(settings.secrets_key_bytes()) == 32
    if name == "signaling":
        assert settings.allowed_origins == [topology.PUBLIC_ORIGIN]
        assert settings.advertised_url == f"http://{pod_ip}:{settings.port}"
        assert settings.rooms_replication_factor == topology.KAFKA_REPLICATION_FACTOR
    if name == "gateway":
        # Production routes by the owners topic alone: no fallback list.
        assert settings.signaling_urls == [] and settings.signaling_owners


def test_a_site_overlay_on_top_of_production_sets_its_image_and_origin(production: Path) -> None:
    # What the README offers instead of editing the source: an overlay of the site's own.
    site = _overlay(
        production.parent / "site",
        resources=["../production"],
        images=[{"name": "registry.example.org/rapport", "newTag": "0.2.0"}],
        configMapGenerator=[
            {
                "name": "rapport-config",
                "behavior": "merge",
                "literals": ['RAPPORT_SIGNALING_ALLOWED_ORIGINS=["https://care.example"]'],
            }
        ],
    )
    documents = _kustomize(site)
    config = next(d for d in documents if d["kind"] == "ConfigMap")["data"]
    assert json.loads(config["RAPPORT_SIGNALING_ALLOWED_ORIGINS"]) == ["https://care.example"]
    [gateway] = [
        d
        for d in documents
        if d["metadata"]["name"] == "gateway" and "template" in d.get("spec", {})
    ]
    assert gateway["spec"]["template"]["spec"]["containers"][0]["image"] == (
        "registry.example.org/rapport:0.2.0"
    )
