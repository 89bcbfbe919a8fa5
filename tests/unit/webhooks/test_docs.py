"""docs/webhooks.md documents every event partners may subscribe to."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from services.webhooks.subscriptions import (
    PARTNER_EVENTS,
    TEST_EVENT_TYPE,
    partner_event_types,
    short_name,
)

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
