"""What a check-in carries, and how one is shown with its total and flags."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from services.records.schemas import Rating, RequestBody


class NewOutcomeCheckIn(RequestBody):
    """How the past week went (the Outcome Rating Scale's structure), at session start."""

    kind: Literal["outcome"]
    individual: Rating
    interpersonal: Rating
    social: Rating
    overall: Rating

    def items(self) -> tuple[int, int, int, int]:
        return (self.individual, self.interpersonal, self.social, self.overall)


class NewSessionCheckIn(RequestBody):
    """How the session went (the Session Rating Scale's structure), at session end."""

    kind: Literal["session"]
    relationship: Rating
    goals_and_topics: Rating
    approach: Rating
    overall: Rating

    def items(self) -> tuple[int, int, int, int]:
        return (self.relationship, self.goals_and_topics, self.approach, self.overall)


NewCheckIn = Annotated[NewOutcomeCheckIn | NewSessionCheckIn, Field(discriminator="kind")]


class CheckInView(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    kind: Literal["outcome", "session"]
    items: dict[str, int]
    total: int
    flags: list[str]
    submitted_at: datetime
