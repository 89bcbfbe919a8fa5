"""Delivering password reset links: the seam where an email sender plugs in.

Rapport has no mail service yet. The default delivery drops the token (and says so in the
log, without the token): a reset then only works where a real sender is configured. Tests
pass a delivery that keeps what it is given.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

log = logging.getLogger(__name__)


class ResetDelivery(Protocol):
    async def send(self, *, user_id: uuid.UUID, email: str, token: str) -> None: ...


class UndeliveredResets:
    """No sender configured: nothing is sent, and the token never reaches a log."""

    async def send(self, *, user_id: uuid.UUID, email: str, token: str) -> None:
        log.warning(
            "password reset requested but no sender is configured", extra={"user_id": str(user_id)}
        )
