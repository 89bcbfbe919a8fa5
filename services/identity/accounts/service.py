"""Accounts: creating them (by sign-up or by an admin), profiles, approval, roles, disabling.

Nothing here commits: the caller (an HTTP request, a CLI command) owns the unit of work, so a
new account and its ``UserRegistered`` outbox row are stored together or not at all.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository as shared_reads
from services.identity.accounts import repository
from services.identity.accounts.rules import (
    check_password,
    check_role,
    check_time_zone,
    clean_display_name,
    normalize_email,
)
from services.identity.errors import (
    AccountUnavailable,
    EmailAlreadyRegistered,
    RoleNotSelfService,
    UserNotFound,
)
from services.identity.invitations import Invitations
from services.identity.models import SELF_SERVICE_ROLES, Invitation, User
from services.identity.passwords import PasswordHashing
from services.identity.settings import EVENT_SOURCE, IdentitySettings
from services.identity.tokens import Tokens
from shared.db import utc_now
from shared.events.catalog import UserDeactivated, UserRegistered, UserRoleChanged
from shared.events.outbox import add_event
from shared.tokens import Principal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SignupPolicy:
    """Who may sign themselves up, and how."""

    clinician_approval_required: bool = False
    client_invitation_required: bool = False
    invitation_ttl_seconds: int = 7 * 24 * 3600

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> SignupPolicy:
        return cls(
            clinician_approval_required=settings.requires_clinician_approval,
            client_invitation_required=settings.requires_client_invitation,
            invitation_ttl_seconds=settings.invitation_ttl_seconds,
        )


class Accounts:
    """Account use cases, built once in the composition root."""

    def __init__(
        self,
        *,
        passwords: PasswordHashing,
        tokens: Tokens,
        invitations: Invitations,
        signup: SignupPolicy | None = None,
    ):
        self._passwords = passwords
        self._tokens = tokens
        self._invitations = invitations
        self._signup = signup or SignupPolicy()

    async def register(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        display_name: str,
        role: str,
        time_zone: str = "UTC",
        invitation: str | None = None,
    ) -> User:
        """Self-service sign-up of a client (through an invitation, where required) or a
        clinician (who waits for an admin's approval, where required)."""
        if role not in SELF_SERVICE_ROLES:
            raise RoleNotSelfService("only clients and clinicians can register themselves")
        invited: Invitation | None = None
        if role == "client" and (invitation or self._signup.client_invitation_required):
            invited = await self._invitations.valid(session, invitation, normalize_email(email))
        user = await self.create_user(
            session,
            email=email,
            password=password,
            display_name=display_name,
            role=role,
            time_zone=time_zone,
            approved=not (role == "clinician" and self._signup.clinician_approval_required),
        )
        if invited is not None:
            self._invitations.accept(session, invited, user)
        return user

    async def create_user(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        display_name: str,
        role: str,
        time_zone: str = "UTC",
        approved: bool = True,
    ) -> User:
        """Create an account of any role and queue ``UserRegistered``."""
        check_role(role)
        normalized = normalize_email(email)
        check_password(password)
        name = clean_display_name(display_name)
        zone = check_time_zone(time_zone)
        if await shared_reads.user_by_email(session, normalized) is not None:
            raise EmailAlreadyRegistered()
        user = await repository.add_user(
            session,
            User(
                email=normalized,
                display_name=name,
                role=role,
                time_zone=zone,
                is_approved=approved,
                password_hash=await self._passwords.hash(password),
            ),
        )
        add_event(
            session,
            UserRegistered(user_id=user.id, role=role, registered_at=user.created_at),
            source=EVENT_SOURCE,
        )
        log.info("user registered", extra={"user_id": str(user.id), "role": role})
        return user

    async def active_user(self, session: AsyncSession, principal: Principal) -> User:
        """The account behind a verified token, if it still exists and is active."""
        user = await shared_reads.user_by_id(session, principal.user_id)
        if user is None or not user.is_active:
            raise AccountUnavailable()
        return user

    async def approve_clinician(
        self, session: AsyncSession, principal: Principal, user_id: uuid.UUID
    ) -> User:
        """An admin approves a self-registered clinician."""
        principal.require_role("admin")
        user = await self._existing(session, user_id)
        user.is_approved = True
        session.add(user)
        return user

    async def update_profile(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        display_name: str | None,
        time_zone: str | None,
    ) -> User:
        """Change the caller's display name and/or time zone."""
        user = await self.active_user(session, principal)
        if display_name is not None:
            user.display_name = clean_display_name(display_name)
        if time_zone is not None:
            user.time_zone = check_time_zone(time_zone)
        session.add(user)
        return user

    async def deactivate(
        self, session: AsyncSession, principal: Principal, user_id: uuid.UUID
    ) -> User:
        """An admin disables an account: it cannot log in, and every token it holds is
        refused (its refresh families here; its access tokens wherever the event reaches)."""
        principal.require_role("admin")
        user = await self._existing(session, user_id)
        if user.is_active:
            now = utc_now()
            user.is_active = False
            session.add(user)
            await self._tokens.revoke_all(session, user, reason="deactivated", at=now)
            add_event(
                session, UserDeactivated(user_id=user.id, deactivated_at=now), source=EVENT_SOURCE
            )
            log.info("user deactivated", extra={"user_id": str(user.id)})
        return user

    async def change_role(
        self, session: AsyncSession, principal: Principal, user_id: uuid.UUID, role: str
    ) -> User:
        """An admin changes an account's role; tokens carrying the old role stop working."""
        principal.require_role("admin")
        check_role(role)
        user = await self._existing(session, user_id)
        if user.role != role:
            now = utc_now()
            old_role, user.role = user.role, role
            session.add(user)
            await self._tokens.revoke_all(session, user, reason="role_changed", at=now)
            add_event(
                session,
                UserRoleChanged(user_id=user.id, old_role=old_role, new_role=role, changed_at=now),
                source=EVENT_SOURCE,
            )
        return user

    async def _existing(self, session: AsyncSession, user_id: uuid.UUID) -> User:
        user = await shared_reads.user_by_id(session, user_id)
        if user is None:
            raise UserNotFound()
        return user
