"""The protocol reference, generated from :mod:`services.signaling.schemas`.

``docs/signaling.schema.json`` is one JSON Schema (2020-12) for every message of
``rapport.signal.v1``; ``docs/signaling.md`` is prose written by hand followed by a generated
reference (close codes, error codes, and each message's JSON Schema);
``web/public/js/protocol.js`` gives the pages the same close codes (with what a person is told),
the default join window and the message limits. ``python -m services.signaling protocol-docs``
rewrites all three; ``--check`` (and a unit test) fails when any is out of date.
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
    CLOSE_CODE_USER_TEXT,
    ERROR_CODE_MEANINGS,
    MAX_CHAT_CHARACTERS,
    SUBPROTOCOL,
    ClientMessage,
    ServerMessage,
)
from services.signaling.settings import SignalingSettings

ROOT = Path(__file__).resolve().parents[2]
DOCS_DIR = ROOT / "docs"
PAGES_DIR = ROOT / "web" / "public" / "js"
PAGE_CONSTANTS = "protocol.js"
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
        "| code | meaning | the web app says |",
        "|---|---|---|",
    ]
    lines += [
        f"| {int(code)} | {meaning} | {CLOSE_CODE_USER_TEXT[code]} |"
        for code, meaning in CLOSE_CODE_MEANINGS.items()
    ]
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


def _default(setting: str) -> Any:
    """A setting's default: what the pages assume (a deployment may configure otherwise)."""
    value = SignalingSettings.model_fields[setting].default
    return int(value) if isinstance(value, float) and value.is_integer() else value


def render_page_constants() -> str:
    """web/public/js/protocol.js: the protocol constants the pages use."""
    names = ",\n".join(f"  {code.name}: {int(code)}" for code in CLOSE_CODE_USER_TEXT)
    reasons = ",\n".join(
        f"  {int(code)}: {json.dumps(text)}" for code, text in CLOSE_CODE_USER_TEXT.items()
    )
    return f"""// Generated from services/signaling/schemas.py and settings.py by
// `python -m services.signaling protocol-docs`; edit those, not this file.
// The {SUBPROTOCOL} constants the pages use (docs/signaling.md is the reference).

export const SUBPROTOCOL = {json.dumps(SUBPROTOCOL)};

/** The server's close codes, by name. */
export const CLOSE_CODES = Object.freeze({{
{names},
}});

/** What a person is told when their connection closed with each code. */
export const CLOSE_REASONS = Object.freeze({{
{reasons},
}});

/** Signaling's default join window: minutes before the start, and after the end. */
export const JOIN_WINDOW = Object.freeze({{
  opensMinutesBefore: {_default("join_opens_minutes_before")},
  closesMinutesAfter: {_default("join_closes_minutes_after")},
}});

/** The largest message signaling takes (bytes; larger ones close the socket with 4413). */
export const MAX_MESSAGE_BYTES = {_default("max_message_bytes")};

/** The longest `chat` text, in characters (a longer one is refused: `invalid-message`). */
export const MAX_CHAT_CHARACTERS = {MAX_CHAT_CHARACTERS};

/** Messages per second, and the burst, one connection may send. */
export const RATE_LIMIT = Object.freeze({{
  perSecond: {_default("rate_limit_per_second")},
  burst: {_default("rate_limit_burst")},
}});
"""


def expected_files(docs_dir: Path = DOCS_DIR, pages_dir: Path = PAGES_DIR) -> dict[Path, str]:
    """What docs/signaling.md, docs/signaling.schema.json and the pages' protocol.js should
    contain."""
    markdown_path = docs_dir / "signaling.md"
    prose = markdown_path.read_text() if markdown_path.exists() else ""
    prose = prose.split(GENERATED_START, 1)[0].rstrip("\n")
    return {
        markdown_path: f"{prose}\n\n{render_reference()}" if prose else render_reference(),
        docs_dir / "signaling.schema.json": json.dumps(schema_document(), indent=2) + "\n",
        pages_dir / PAGE_CONSTANTS: render_page_constants(),
    }


def stale_files(docs_dir: Path = DOCS_DIR, pages_dir: Path = PAGES_DIR) -> list[Path]:
    """The generated files that do not match the models."""
    return [
        path
        for path, text in expected_files(docs_dir, pages_dir).items()
        if not path.exists() or path.read_text() != text
    ]


def write_files(docs_dir: Path = DOCS_DIR, pages_dir: Path = PAGES_DIR) -> list[Path]:
    """Regenerate the reference; return the files that changed."""
    changed = []
    for path, text in expected_files(docs_dir, pages_dir).items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed
