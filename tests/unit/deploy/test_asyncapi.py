"""docs/asyncapi.yaml: valid AsyncAPI 3.0, complete, and what the code generates today."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from deploy import asyncapi
from shared.events.catalog import catalog_types

SPEC_SCHEMA = (
    Path(__file__).resolve().parents[3]
    / "web/node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json"
)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(asyncapi.DOCUMENT_PATH.read_text(encoding="utf-8"))
    return loaded


def test_the_committed_document_is_what_the_code_generates() -> None:
    assert asyncapi.main(["--check"]) == 0, "run: python -m deploy.asyncapi"


def test_the_document_is_valid_asyncapi_3(document: dict[str, Any]) -> None:
    assert SPEC_SCHEMA.exists(), f"{SPEC_SCHEMA} missing: run `make install` (npm ci in web/)"
    schema = json.loads(SPEC_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, "\n".join(errors[:20])


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    def resolve(pointer: str) -> Any:
        node: Any = document
        for part in pointer.removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def refs(node: Any) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [r for value in node.values() for r in refs(value)]
        if isinstance(node, list):
            return [r for value in node for r in refs(value)]
        return []

    found = refs(document)
    assert found
    for ref in found:
        assert ref.startswith("#/"), ref
        resolve(ref)  # a KeyError names the dangling reference


def test_every_event_and_every_subscription_is_documented(document: dict[str, Any]) -> None:
    assert set(catalog_types()) <= set(document["components"]["messages"])
    operations = document["operations"]
    for service, router in asyncapi.consumer_routers().items():
        for topic in router.topics:
            received = operations[f"{service}.receive.{topic}"]["messages"]
            names = {ref["$ref"].rsplit("/", 1)[1] for ref in received}
            assert names == {t for t in router.event_types if t.startswith(f"{topic}.")}
    # What travels is the data without its type (that is the ce_type header).
    scheduled = document["components"]["schemas"]["AppointmentScheduled"]
    assert "type" not in scheduled["properties"] and "session_id" in scheduled["properties"]
