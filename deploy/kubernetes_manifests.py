"""The Kubernetes manifests under deploy/kubernetes/: a kustomize base with every service, the
Strimzi Kafka and its topics, a production overlay.

Each function returns plain documents (dicts); :mod:`deploy.manifests` writes them as YAML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from deploy import topology
from deploy.topology import BACKENDS, GATEWAY, GENERATED, IDENTITY, SERVICES, SIGNALING, Service

KUBERNETES = Path("deploy/kubernetes")

#: Strimzi calls the bootstrap Service of a Kafka <name>-kafka-bootstrap.
KAFKA_BOOTSTRAP = f"{topology.KAFKA_CLUSTER}-kafka-bootstrap:9092"
PRIVATE_RANGES = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]


def _labels(service: Service, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": service.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": topology.PART_OF,
    }


def _selector(service: Service) -> dict[str, str]:
    return {"app.kubernetes.io/name": service.name, "app.kubernetes.io/component": "server"}


def _secret_name(service: Service) -> str:
    return f"{service.name}-secrets"


def _container_env(service: Service) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": service.env("host"), "value": "0.0.0.0"},
        {"name": service.env("port"), "value": str(service.port)},
    ]
    if service is SIGNALING:
        env = _advertised_address(service) + env
    if service is GATEWAY:
        # No fixed list of signaling pods: the gateway learns each room's owner (a pod's own
        # address) from the owners topic, and an empty list means none to fall back on.
        upstreams = topology.gateway_upstreams([])
        env += [{"name": k, "value": v} for k, v in upstreams.items()]
    else:
        env.append({"name": service.env("trusted_proxies"), "value": topology.POD_NETWORK})
    env += [{"name": k, "value": v} for k, v in topology.service_calls(service).items()]
    for setting in service.secret_settings:
        name = service.env(setting)
        ref: dict[str, Any] = {"name": _secret_name(service), "key": name}
        # A setting that may stay unset (TURN) is read only when the Secret has it.
        if name not in _required_secret_names(service):
            ref["optional"] = True
        env.append({"name": name, "valueFrom": {"secretKeyRef": ref}})
    return env


def _required_secrets(service: Service) -> list[str]:
    fields = service.settings().model_fields
    return [s for s in service.secret_settings if fields[s].default is not None]


def _required_secret_names(service: Service) -> list[str]:
    """Secrets production cannot start without: the database URL, identity's sealing key."""
    names = [service.env(s) for s in _required_secrets(service)]
    if service is IDENTITY:
        names.append(service.env("secrets_key"))
    return names


def _container(service: Service, command: list[str]) -> dict[str, Any]:
    return {
        "name": service.name,
        "image": topology.IMAGE,
        "command": command,
        "envFrom": [{"configMapRef": {"name": "rapport-config"}}],
        "env": _container_env(service),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        # The root filesystem is read-only; Python and its libraries may still want a scratch dir.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
    }


def _pod_spec(service: Service, container: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            # The image's user (deploy/Dockerfile).
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **extra,
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


def _advertised_address(service: Service) -> list[dict[str, Any]]:
    """Each signaling pod claims its rooms under its own address (the gateway connects to
    it directly), and creates its topics replicated like the others should it come first."""
    return [
        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": service.env("advertised_url"), "value": f"http://$(POD_IP):{service.port}"},
        {
            "name": service.env("rooms_replication_factor"),
            "value": str(topology.KAFKA_REPLICATION_FACTOR),
        },
    ]


def _server_container(service: Service) -> dict[str, Any]:
    container = _container(service, ["python", "-m", service.package, "serve"])
    resources = service.resources
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "timeoutSeconds": 2}
    container.update(
        {
            "ports": [{"name": "http", "containerPort": service.port}],
            # Alive: the process answers. Ready: its database (and dependencies) answer.
            "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 30},
            "livenessProbe": {**probe, "periodSeconds": 10, "failureThreshold": 3},
            "readinessProbe": {
                "httpGet": {"path": service.readiness_path, "port": "http"},
                "timeoutSeconds": 2,
                "periodSeconds": 5,
                "failureThreshold": 3,
            },
            "resources": {
                "requests": {"cpu": resources.cpu_request, "memory": resources.memory_request},
                "limits": {"cpu": resources.cpu_limit, "memory": resources.memory_limit},
            },
        }
    )
    return container


def _workload(service: Service) -> dict[str, Any]:
    labels = _labels(service, "server")
    spec: dict[str, Any] = {
        "replicas": service.min_replicas,
        "selector": {"matchLabels": _selector(service)},
        "template": {
            "metadata": {"labels": labels},
            "spec": _pod_spec(
                service,
                _server_container(service),
                terminationGracePeriodSeconds=topology.termination_grace_seconds(service),
                topologySpreadConstraints=[
                    {
                        "maxSkew": 1,
                        "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": _selector(service)},
                    }
                ],
            ),
        },
    }
    # The autoscaler owns the count: a replicas field here would reset it on every apply.
    del spec["replicas"]
    # A new pod first (for signaling: it joins the group and takes its share of the rooms),
    # then an old one drains.
    spec["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": service.name, "labels": labels},
        "spec": spec,
    }


def _service(service: Service) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": _selector(service),
        "ports": [{"name": "http", "port": service.port, "targetPort": "http"}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": service.name, "labels": _labels(service, "server")},
        "spec": spec,
    }


def autoscaler(service: Service) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": service.name, "labels": _labels(service, "server")},
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": service.name,
            },
            "minReplicas": service.min_replicas,
            "maxReplicas": service.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
            # Scale in slowly: a process leaving costs its consumer group a rebalance.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def _disruption_budget(service: Service) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": service.name, "labels": _labels(service, "server")},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(service)}},
    }


def _secret(service: Service) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": _secret_name(service), "labels": _labels(service, "server")},
        "type": "Opaque",
        # Empty on purpose: a process refuses to start without real values, which the
        # production overlay's secretGenerator (or an external secret store) provides.
        "stringData": {name: "" for name in _required_secret_names(service)},
    }


def _migration_job(service: Service) -> dict[str, Any]:
    labels = _labels(service, "migration")
    container = _container(service, ["python", "-m", service.package, "migrate"])
    container["resources"] = {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"{service.name}-migrate", "labels": labels},
        "spec": {
            # Retries while PostgreSQL comes up; finished Jobs go away so the next release's
            # Job (an immutable template) can be applied.
            "backoffLimit": 6,
            "ttlSecondsAfterFinished": 600,
            "template": {
                "metadata": {"labels": labels},
                "spec": _pod_spec(service, container, restartPolicy="OnFailure"),
            },
        },
    }


def service_documents(service: Service) -> list[dict[str, Any]]:
    documents = [
        _service(service),
        _workload(service),
        _disruption_budget(service),
        autoscaler(service),
    ]
    if service.secret_settings:
        documents.append(_secret(service))
    if service.has_database:
        documents.append(_migration_job(service))
    return documents


def _config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "rapport-config", "labels": {"app.kubernetes.io/part-of": "rapport"}},
        # In the ConfigMap rather than on the container, so the overlay can set it.
        "data": {
            **topology.deployment_wide(KAFKA_BOOTSTRAP),
            SIGNALING.env("allowed_origins"): json.dumps([topology.PUBLIC_ORIGIN]),
        },
    }


def _policy(name: str, selector: dict[str, str], **spec: Any) -> dict[str, Any]:
    types = [t for t in ("Ingress", "Egress") if t.lower() in spec]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/part-of": topology.PART_OF}},
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": types, **spec},
    }


def _pods(service: Service) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": {"app.kubernetes.io/name": service.name}}}


def _tcp(port: int) -> dict[str, Any]:
    return {"protocol": "TCP", "port": port}


def network_policies() -> list[dict[str, Any]]:
    """Nothing reaches a Rapport pod but what is listed; only the gateway reaches the services."""
    part_of = {"app.kubernetes.io/part-of": topology.PART_OF}
    scraper = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    dns = {
        "to": [
            {
                "namespaceSelector": {},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"protocol": "UDP", "port": 53}, _tcp(53)],
    }
    kafka = {
        "to": [{"podSelector": {"matchLabels": {"strimzi.io/cluster": topology.KAFKA_CLUSTER}}}],
        "ports": [_tcp(9092)],
    }
    # An in-cluster PostgreSQL carrying this label; a managed one: patch in its address.
    postgres = {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "postgresql"}}}],
        "ports": [_tcp(5432)],
    }
    jwks = {"to": [_pods(IDENTITY)], "ports": [_tcp(IDENTITY.port)]}
    policies = [_policy("rapport-default-deny", part_of, ingress=[], egress=[])]
    for service in SERVICES:
        peers: list[dict[str, Any]]
        if service is GATEWAY:
            # The edge: whatever fronts the cluster (an ingress controller, a load balancer).
            ingress = [{"ports": [_tcp(service.port)]}]
        else:
            peers = [_pods(GATEWAY)]
            if service.reached_by_services:
                peers = [{"podSelector": {"matchLabels": part_of}}]
            ingress = [{"from": peers, "ports": [_tcp(service.port)]}]
        ingress.append({"from": [scraper], "ports": [_tcp(service.port)]})
        egress = [dns, kafka]
        if service.has_database:
            egress.append(postgres)
        if service is not IDENTITY:
            egress.append(jwks)
        if service is GATEWAY:
            egress += [{"to": [_pods(b)], "ports": [_tcp(b.port)]} for b in BACKENDS]
        if service.reaches_internet:
            # Partner endpoints anywhere on the internet, never the cluster's own networks.
            egress.append(
                {
                    "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": PRIVATE_RANGES}}],
                    "ports": [_tcp(port) for port in service.internet_ports],
                }
            )
        selector = {"app.kubernetes.io/name": service.name}
        policies.append(_policy(service.name, selector, ingress=ingress, egress=egress))
    return policies


def kafka_documents() -> list[dict[str, Any]]:
    """The production Kafka: Strimzi, KRaft, three nodes that are brokers and controllers."""
    labels = {"strimzi.io/cluster": topology.KAFKA_CLUSTER}
    rf, isr = topology.KAFKA_REPLICATION_FACTOR, topology.KAFKA_MIN_INSYNC_REPLICAS
    node_pool = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "KafkaNodePool",
        "metadata": {"name": "dual-role", "labels": labels},
        "spec": {
            "replicas": topology.KAFKA_BROKERS,
            "roles": ["controller", "broker"],
            "storage": {
                "type": "jbod",
                "volumes": [
                    {
                        "id": 0,
                        "type": "persistent-claim",
                        "size": "100Gi",
                        "deleteClaim": False,
                        "kraftMetadata": "shared",
                    }
                ],
            },
            "resources": {
                "requests": {"cpu": "500m", "memory": "2Gi"},
                "limits": {"cpu": "2", "memory": "2Gi"},
            },
        },
    }
    kafka = {
        "apiVersion": "kafka.strimzi.io/v1",
        "kind": "Kafka",
        "metadata": {"name": topology.KAFKA_CLUSTER},
        "spec": {
            "kafka": {
                "version": topology.STRIMZI_KAFKA_VERSION,
                "metadataVersion": topology.STRIMZI_METADATA_VERSION,
                "listeners": [
                    {
                        "name": "plain",
                        "port": 9092,
                        "type": "internal",
                        "tls": False,
                        # Only Rapport's pods may connect.
                        "networkPolicyPeers": [
                            {
                                "podSelector": {
                                    "matchLabels": {"app.kubernetes.io/part-of": topology.PART_OF}
                                }
                            }
                        ],
                    }
                ],
                "config": {
                    # Topics are KafkaTopic resources: a typo in a topic name fails loudly.
                    "auto.create.topics.enable": False,
                    "default.replication.factor": rf,
                    "min.insync.replicas": isr,
                    "offsets.topic.replication.factor": rf,
                    "transaction.state.log.replication.factor": rf,
                    "transaction.state.log.min.isr": isr,
                    "share.coordinator.state.topic.replication.factor": rf,
                    "share.coordinator.state.topic.min.isr": isr,
                },
            },
            "entityOperator": {"topicOperator": {}},
        },
    }
    return [kafka, node_pool]


def topic_documents() -> list[dict[str, Any]]:
    labels = {"strimzi.io/cluster": topology.KAFKA_CLUSTER}
    return [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            # Resource names cannot hold dots' neighbours freely; topicName keeps the real one.
            "metadata": {"name": topic.name.replace(".", "-"), "labels": labels},
            "spec": {
                "topicName": topic.name,
                "partitions": topic.partitions,
                "replicas": topology.KAFKA_REPLICATION_FACTOR,
                "config": _topic_config(topic),
            },
        }
        for topic in topology.topics()
    ]


def _topic_config(topic: topology.Topic) -> dict[str, Any]:
    config: dict[str, Any] = {"cleanup.policy": topic.cleanup_policy}
    if topic.retention_ms is not None:
        config["retention.ms"] = topic.retention_ms
    else:
        # As signaling creates them (shared/room_owners.py): compacted soon after a room
        # changes, so a takeover reads little more than each room's latest state.
        config["min.cleanable.dirty.ratio"] = 0.1
    config["min.insync.replicas"] = topology.KAFKA_MIN_INSYNC_REPLICAS
    return config


def _kustomization(resources: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        **extra,
        "resources": resources,
    }


def kubernetes_files() -> dict[Path, list[dict[str, Any]]]:
    """Each manifest file under deploy/kubernetes/ and the documents it holds."""
    base = KUBERNETES / "base"
    files: dict[Path, list[dict[str, Any]]] = {
        base / "config.yaml": [_config_map()],
        base / "network-policies.yaml": network_policies(),
    }
    for service in SERVICES:
        files[base / f"{service.name}.yaml"] = service_documents(service)
    files[base / "kustomization.yaml"] = [
        _kustomization(sorted(p.name for p in files if p.parent == base))
    ]
    kafka = KUBERNETES / "kafka"
    files[kafka / "kafka.yaml"] = kafka_documents()
    files[kafka / "topics.yaml"] = topic_documents()
    files[kafka / "kustomization.yaml"] = [_kustomization(["kafka.yaml", "topics.yaml"])]
    files[KUBERNETES / "overlays" / "production" / "kustomization.yaml"] = [_production_overlay()]
    return files


def _production_overlay() -> dict[str, Any]:
    secrets = [
        {
            "name": _secret_name(service),
            "behavior": "replace",
            # Kept out of git (.gitignore); <name>.env.example shows the keys.
            "envs": [f"{service.name}.env"],
        }
        for service in SERVICES
        if service.secret_settings
    ]
    return _kustomization(
        ["../../base", "../../kafka"],
        namespace=topology.NAMESPACE,
        images=[
            {
                "name": topology.IMAGE,
                "newName": topology.PRODUCTION_IMAGE,
                "newTag": topology.PRODUCTION_TAG,
            }
        ],
        configMapGenerator=[
            {
                "name": "rapport-config",
                "behavior": "merge",
                "literals": [
                    f"{SIGNALING.env('allowed_origins')}={json.dumps([topology.PUBLIC_ORIGIN])}"
                ],
            }
        ],
        secretGenerator=secrets,
    )


def secret_examples() -> dict[Path, str]:
    """The production overlay's secret files, as examples with the keys and no values."""
    overlay = KUBERNETES / "overlays" / "production"
    files = {}
    for service in SERVICES:
        if not service.secret_settings:
            continue
        lines = [f"# Copy to {service.name}.env (ignored by git) and fill in. {GENERATED}"]
        for setting in service.secret_settings:
            name = service.env(setting)
            optional = name not in _required_secret_names(service)
            lines.append(f"{'# ' if optional else ''}{name}={_example_value(service, setting)}")
        files[overlay / f"{service.name}.env.example"] = "\n".join(lines) + "\n"
    return files


def _example_value(service: Service, setting: str) -> str:
    if setting == "database_url":
        return f"postgresql+asyncpg://{service.name}:PASSWORD@postgresql:5432/{service.name}"
    if setting == "secrets_key":
        return "BASE64_OF_32_RANDOM_BYTES_openssl_rand_-base64_32"
    return "SECRET"
