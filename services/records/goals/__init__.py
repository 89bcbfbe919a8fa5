"""Goals: proposed by one party, active once the other agrees; their append-only updates."""

from __future__ import annotations

from services.records.goals.service import (
    add_goal_update,
    agree_to_goal,
    change_goal_status,
    goal_history,
    list_goals,
    propose_goal,
    record_goal_update,
)

__all__ = [
    "add_goal_update",
    "agree_to_goal",
    "change_goal_status",
    "goal_history",
    "list_goals",
    "propose_goal",
    "record_goal_update",
]
