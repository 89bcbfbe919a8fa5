"""docs/webhooks.md documents every event partners may subscribe to."""

from __future__ import annotations

from pathlib import Path

from services.webhooks.subscriptions import partner_event_types, short_name

DOC = Path(__file__).resolve().parents[3] / "docs" / "webhooks.md"


def test_every_subscribable_event_type_is_documented_with_its_short_name() -> None:
    text = DOC.read_text()
    for event_type in partner_event_types():
        assert short_name(event_type) in text, event_type
        if not event_type.startswith("rapport.signaling.participant."):
            assert f"{event_type}`" in text, event_type
