"""The leave and end reasons partners are told about are exactly the ones events carry."""

from __future__ import annotations

import re
from pathlib import Path

from shared.events.reasons import EndReason, LeaveReason

WEBHOOKS = Path(__file__).parents[3] / "docs" / "webhooks.md"


def _listed(after: str, before: str) -> list[str]:
    text = " ".join(WEBHOOKS.read_text().split())
    listed = re.search(re.escape(after) + r"(.*?)" + re.escape(before), text)
    assert listed is not None, f"docs/webhooks.md no longer lists the values after {after!r}"
    return re.findall(r"`([^`]+)`", listed.group(1))


def test_the_webhook_docs_list_every_leave_reason_and_no_other():
    listed = _listed("`participant.left` why they left (", "):")
    assert listed == [r.value for r in LeaveReason]


def test_the_webhook_docs_list_every_end_reason_and_no_other():
    listed = _listed("`reason` is ", "(everyone had left")
    assert listed == [r.value for r in EndReason]
