"""The protocol reference, generated from :mod:`services.signaling.schemas`.

``docs/signaling.schema.json`` is one JSON Schema (2020-12) for every message of
``rapport.signal.v1``; ``docs/signaling.md`` is prose written by hand followed by a generated
reference (close codes, error codes, and each message's JSON Schema). ``python -m
services.signaling protocol-docs`` rewrites both; ``--check`` (and a unit test) fails when
either is out of date.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from services.signaling.schemas import (
    CLOSE_CODE_MEANINGS,
    ERROR_CODE_MEANINGS,
    SUBPROTOCOL,
    ClientMessage,
    ServerMessage,
)

DOCS_DIR = Path(__file__).resolve().parents[2] / "docs"
GENERATED_START = (
    "<!-- Generated from services/signaling/schemas.py by "
    "`python -m services.signaling protocol-docs`; edit the models, not this section. -->"
)
GENERATED_END = "<!-- End of the generated reference. -->"


def _union_members(union: Any) -> list[type[BaseModel]]:
    members: list[type[BaseModel]] = list(get_args(get_args(union)[0]))
    return members


def client_message_models() -> list[type[BaseModel]]:
    """The models of every client → server message, in protocol order."""
    return _union_members(ClientMessage)


def server_message_models() -> list[type[BaseModel]]:
    """The models of every server → client message, in protocol order."""
    return _union_members(ServerMessage)


def schema_document() -> dict[str, Any]:
    """One JSON Schema for the whole protocol: ``ClientMessage`` and ``ServerMessage``."""
    ref = "#/$defs/{model}"
    client = TypeAdapter(ClientMessage).json_schema(mode="validation", ref_template=ref)
    server = TypeAdapter(ServerMessage).json_schema(mode="serialization", ref_template=ref)
    definitions: dict[str, Any] = {}
    for part in (client, server):
        for name, definition in part.pop("$defs").items():
            if definitions.setdefault(name, definition) != definition:
                raise ValueError(f"{name} differs between directions; give one of them a new name")
    definitions["ClientMessage"] = client
    definitions["ServerMessage"] = server
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": SUBPROTOCOL,
        "description": (
            f"Every message of the {SUBPROTOCOL} WebSocket subprotocol: ClientMessage is what "
            "a client sends, ServerMessage what the server sends. See docs/signaling.md."
        ),
        "anyOf": [{"$ref": "#/$defs/ClientMessage"}, {"$ref": "#/$defs/ServerMessage"}],
        "$defs": dict(sorted(definitions.items())),
    }


def _message_section(model: type[BaseModel], direction: str, mode: JsonSchemaMode) -> str:
    schema = model.model_json_schema(mode=mode)
    message_type = model.model_fields["type"].default
    doc = " ".join(inspect.cleandoc(model.__doc__ or "").split())
    return (
        f"### `{message_type}` ({direction})\n\n{doc}\n\n"
        f"```json\n{json.dumps(schema, indent=2)}\n```\n"
    )


def render_reference() -> str:
    """The generated part of docs/signaling.md."""
    lines = [
        GENERATED_START,
        "",
        "## Reference",
        "",
        "### Close codes",
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    lines += [f"| {int(code)} | {meaning} |" for code, meaning in CLOSE_CODE_MEANINGS.items()]
    lines += ["", "### Error codes", "", "| `code` | meaning |", "|---|---|"]
    lines += [f"| `{code}` | {meaning} |" for code, meaning in ERROR_CODE_MEANINGS.items()]
    lines += ["", "## Messages, client → server", ""]
    sections = [
        _message_section(m, "client → server", "validation") for m in client_message_models()
    ]
    lines += ["\n".join(sections), "## Messages, server → client", ""]
    sections = [
        _message_section(m, "server → client", "serialization") for m in server_message_models()
    ]
    lines += ["\n".join(sections), GENERATED_END, ""]
    return "\n".join(lines)


def expected_files(docs_dir: Path = DOCS_DIR) -> dict[Path, str]:
    """What docs/signaling.md and docs/signaling.schema.json should contain."""
    markdown_path = docs_dir / "signaling.md"
    prose = markdown_path.read_text() if markdown_path.exists() else ""
    prose = prose.split(GENERATED_START, 1)[0].rstrip("\n")
    return {
        markdown_path: f"{prose}\n\n{render_reference()}" if prose else render_reference(),
        docs_dir / "signaling.schema.json": json.dumps(schema_document(), indent=2) + "\n",
    }


def stale_files(docs_dir: Path = DOCS_DIR) -> list[Path]:
    """The generated files that do not match the models."""
    return [
        path
        for path, text in expected_files(docs_dir).items()
        if not path.exists() or path.read_text() != text
    ]


def write_files(docs_dir: Path = DOCS_DIR) -> list[Path]:
    """Regenerate the reference; return the files that changed."""
    changed = []
    for path, text in expected_files(docs_dir).items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed
