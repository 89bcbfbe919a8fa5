"""What the notifications service may ask identity for: a person's contact, and the links
(password reset, invitation) whose tokens never travel on the bus.

Identity keeps each such token sealed (AES-GCM, bound to its row) from the moment it is issued
until it is used, and opens it only for the notifications service's authenticated call. Use
cases only: nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository
from services.identity.errors import LinkNoLongerValid, UserNotFound
from services.identity.models import User
from services.identity.secret_box import (
    SecretBox,
    invitation_token_context,
    reset_token_context,
)
from shared.db import utc_now


@dataclass(frozen=True)
class Link:
    """A token to email, with whom it goes to."""

    email: str
    token: str
    expires_at: datetime
    user: User | None = None
    inviter: User | None = None


async def contact(session: AsyncSession, user_id: uuid.UUID) -> User:
    """The account to write to, or :class:`UserNotFound`."""
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


async def reset_link(session: AsyncSession, box: SecretBox, reset_id: uuid.UUID) -> Link:
    """The token of a pending reset request; :class:`LinkNoLongerValid` once used or expired."""
    reset = await repository.password_reset_by_id(session, reset_id)
    if reset is None:
        raise UserNotFound()
    user = await repository.user_by_id(session, reset.user_id)
    if (
        reset.used_at is not None
        or reset.sealed_token is None
        or reset.expires_at <= utc_now()
        or user is None
        or not user.is_active
    ):
        raise LinkNoLongerValid()
    token = box.open(reset.sealed_token, context=reset_token_context(reset.id))
    return Link(email=user.email, token=token, expires_at=reset.expires_at, user=user)


async def invitation_link(session: AsyncSession, box: SecretBox, invitation_id: uuid.UUID) -> Link:
    """The token of a pending invitation; :class:`LinkNoLongerValid` once accepted or expired."""
    invitation = await repository.invitation_by_id(session, invitation_id)
    if invitation is None:
        raise UserNotFound()
    if (
        invitation.accepted_at is not None
        or invitation.sealed_token is None
        or invitation.expires_at <= utc_now()
    ):
        raise LinkNoLongerValid()
    token = box.open(invitation.sealed_token, context=invitation_token_context(invitation.id))
    inviter = await repository.user_by_id(session, invitation.clinician_id)
    return Link(
        email=invitation.email, token=token, expires_at=invitation.expires_at, inviter=inviter
    )
