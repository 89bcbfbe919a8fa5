"""Handing a password reset token to code in the same process (tests keep what they are given).

Emails go out through the notifications service: identity queues
``password_reset.requested`` (ids only) and keeps the token sealed until notifications fetches
it over the internal API (docs/notifications.md). The default delivery therefore does nothing.
"""

from __future__ import annotations

import logging
import uuid
from typing import Protocol

log = logging.getLogger(__name__)


class ResetDelivery(Protocol):
    async def send(self, *, user_id: uuid.UUID, email: str, token: str) -> None: ...


class UndeliveredResets:
    """Nothing in-process: the notifications service emails the link; no token is logged."""

    async def send(self, *, user_id: uuid.UUID, email: str, token: str) -> None:
        log.info("password reset requested", extra={"user_id": str(user_id)})
