"""docs/webhooks.md documents every event partners may subscribe to."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from services.webhooks.subscriptions import (
    NOT_OFFERED,
    PARTNER_EVENTS,
    TEST_EVENT_TYPE,
    partner_event_types,
    short_name,
)
from shared.events.catalog import EventPayload

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def test_every_subscribable_event_type_is_documented_with_its_short_name() -> None:
    text = DOC.read_text()
    for event_type in partner_event_types():
        assert short_name(event_type) in text, event_type
        if not event_type.startswith("rapport.signaling.participant."):
            assert f"{event_type}`" in text, event_type


def _examples() -> list[dict[str, Any]]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


def test_every_example_payload_is_what_the_service_would_send() -> None:
    """Each example decodes as its catalog payload and shows every field (none left out)."""
    by_short_name = {short_name(p.model_fields["type"].default): p for p in PARTNER_EVENTS}
    examples = [e for e in _examples() if e["type"] != short_name(TEST_EVENT_TYPE)]
    assert {e["type"] for e in examples} == set(by_short_name)
    for example in examples:
        payload_type = by_short_name[example["type"]]
        payload = payload_type.model_validate(example["data"])  # extra fields are refused
        assert set(example["data"]) == set(payload.data()), example["type"]


def test_every_catalog_event_is_offered_or_excluded_with_a_reason() -> None:
    catalog = set(EventPayload.__origin__.__args__)  # type: ignore[attr-defined]
    offered = set(PARTNER_EVENTS)
    assert offered.isdisjoint(NOT_OFFERED)
    assert offered | set(NOT_OFFERED) == catalog, "decide: offer it, or say why not"
    assert all(reason.strip() for reason in NOT_OFFERED.values())


def test_the_events_not_offered_are_named_in_the_docs() -> None:
    section = DOC.read_text().split("## Events partners may subscribe to", 1)[1]
    not_offered = section.split("Not offered:", 1)[1].split("###", 1)[0]
    for payload_type in NOT_OFFERED:
        name = short_name(payload_type.model_fields["type"].default)
        assert f"`{name}`" in not_offered, name
