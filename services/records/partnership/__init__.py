"""The working partnership: care relationships, the treatment plan and its planned end
(discharge, readiness), and the client's values.

``start_relationship`` is the one way a relationship begins (goals and appointments call it);
``current_value`` checks a value a goal refers to.
"""

from __future__ import annotations

from services.records.partnership.service import (
    current_value,
    link_invited_client,
    start_relationship,
)

__all__ = ["current_value", "link_invited_client", "start_relationship"]
