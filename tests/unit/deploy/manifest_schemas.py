"""Validate Kubernetes manifests against the Kubernetes and Strimzi schemas, offline.

Built-in kinds go through kubernetes-validate (the Kubernetes OpenAPI schemas as JSON Schema,
shipped in its wheel) in strict mode, so an unknown field is an error as it is for
``kubectl apply --validate=strict``. Strimzi's kinds are checked against the
``openAPIV3Schema`` of Strimzi's own CRDs (vendored in schemas/, see the README there), made
strict the way kubeconform's openapi2jsonschema does: an object that lists its properties and
does not preserve unknown fields accepts no others.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

#: The oldest Kubernetes the manifests promise to work on (autoscaling/v2, policy/v1 and
#: Job TTLs are all GA there).
KUBERNETES_VERSION = "1.33"
STRIMZI_CRDS = Path(__file__).parent / "schemas" / "strimzi-1.2.0"


class ManifestInvalid(Exception):
    """A document that the schema of its kind refuses, or whose kind has no schema."""


def _strict(schema: Any) -> Any:
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        if schema.pop("x-kubernetes-int-or-string", False):
            schema["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    elif isinstance(schema, list):
        schema = [_strict(item) for item in schema]
    return schema


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    return {
        key: jsonschema.validators.validator_for(schema)(schema)
        for key, schema in crd_schemas().items()
    }


@functools.cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON Schema, for every version each CRD serves."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(STRIMZI_CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text(encoding="utf-8"))
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served"):
                continue
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            schema.setdefault("properties", {}).update(
                {
                    "apiVersion": {"const": f"{group}/{version['name']}"},
                    "kind": {"const": kind},
                    "metadata": {"type": "object"},
                }
            )
            schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind"})
            schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


def validate(document: dict[str, Any]) -> None:
    """Raise :class:`ManifestInvalid` unless ``document`` is valid for its kind."""
    key = (document.get("apiVersion", ""), document.get("kind", ""))
    validator = crd_validators().get(key)
    try:
        if validator is not None:
            error = jsonschema.exceptions.best_match(validator.iter_errors(document))
            if error is not None:
                raise error
        else:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
    except jsonschema.ValidationError as error:
        where = ".".join(str(p) for p in error.absolute_path) or "(root)"
        raise ManifestInvalid(f"{key[1]} {_name(document)}: {where}: {error.message}") from error
    except kubernetes_validate.SchemaNotFoundError as error:
        raise ManifestInvalid(f"no schema for {key}: {error.message}") from error


def _name(document: dict[str, Any]) -> str:
    return str(document.get("metadata", {}).get("name", "?"))
