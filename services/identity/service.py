"""Identity's use cases: accounts, logging in, issuing tokens, and rotating signing keys.

Nothing here commits: the caller (an HTTP request, a CLI command) owns the unit of work, so a
new account and its ``UserRegistered`` outbox row are stored together or not at all.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

import jwt
from email_validator import EmailNotValidError, validate_email
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository
from services.identity.errors import (
    AccountUnavailable,
    EmailAlreadyRegistered,
    InvalidAccountDetails,
    InvalidCredentials,
    RoleNotSelfService,
)
from services.identity.models import (
    DISPLAY_NAME_MAX_LENGTH,
    ROLES,
    SELF_SERVICE_ROLES,
    SigningKey,
    User,
)
from services.identity.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH, PasswordHashing
from services.identity.settings import IdentitySettings
from services.identity.signing_keys import ALGORITHM, Keyring, generate_signing_key
from shared.db import utc_now
from shared.events.catalog import UserRegistered
from shared.events.outbox import add_event
from shared.tokens import Principal

log = logging.getLogger(__name__)

EVENT_SOURCE: Final = "/rapport/identity"


@dataclass(frozen=True)
class TokenPolicy:
    """Who tokens are from and for, and how long they live."""

    issuer: str
    audience: str
    signaling_audience: str
    access_ttl_seconds: int
    signaling_ttl_seconds: int
    retirement_grace_seconds: int

    @classmethod
    def from_settings(cls, settings: IdentitySettings) -> TokenPolicy:
        """The policy the deployment configured."""
        return cls(
            issuer=settings.token_issuer,
            audience=settings.token_audience,
            signaling_audience=settings.signaling_audience,
            access_ttl_seconds=settings.access_token_ttl_seconds,
            signaling_ttl_seconds=settings.signaling_token_ttl_seconds,
            retirement_grace_seconds=settings.key_retirement_grace_seconds,
        )

    @property
    def key_retention(self) -> timedelta:
        """How long a retired key keeps verifying: until every token it signed has expired."""
        longest = max(self.access_ttl_seconds, self.signaling_ttl_seconds)
        return timedelta(seconds=longest + self.retirement_grace_seconds)


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and what a caller needs to know about it."""

    token: str
    expires_in: int
    token_id: str
    kid: str


@dataclass(frozen=True)
class LoggedIn:
    """The result of a successful login."""

    user: User
    access: IssuedToken


@dataclass(frozen=True)
class KeyRotation:
    """The key that signs from now on, and the keys it replaced."""

    new_kid: str
    retired_kids: list[str]


@dataclass(frozen=True)
class DemoAccount:
    """A demo login for local runs and the end-to-end tests."""

    email: str
    password: str
    display_name: str
    role: str


DEMO_ACCOUNTS: Final = (
    DemoAccount("clinician@demo.rapport", "demo-clinician-pass", "Dr. Demo Clinician", "clinician"),
    DemoAccount("client@demo.rapport", "demo-client-pass", "Demo Client", "client"),
    DemoAccount("admin@demo.rapport", "demo-admin-pass", "Demo Admin", "admin"),
)


@dataclass(frozen=True)
class SeededAccount:
    """A demo account and whether this run created it."""

    account: DemoAccount
    user_id: uuid.UUID
    created: bool


def normalize_email(address: str) -> str:
    """The canonical, lower-case form of ``address`` that accounts are stored and found by."""
    try:
        parsed = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAccountDetails(f"email: {exc}") from exc
    return parsed.normalized.lower()


def _check_password(password: str) -> None:
    if not PASSWORD_MIN_LENGTH <= len(password) <= PASSWORD_MAX_LENGTH:
        raise InvalidAccountDetails(
            f"password: must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters long"
        )


def _clean_display_name(display_name: str) -> str:
    cleaned = display_name.strip()
    if not 1 <= len(cleaned) <= DISPLAY_NAME_MAX_LENGTH:
        raise InvalidAccountDetails(
            f"display_name: must be 1 to {DISPLAY_NAME_MAX_LENGTH} characters long"
        )
    return cleaned


class IdentityService:
    """Identity's use cases, built once in the composition root."""

    def __init__(self, *, passwords: PasswordHashing, keyring: Keyring, policy: TokenPolicy):
        self._passwords = passwords
        self._policy = policy
        # Public because it is also the KeySource that verifies identity's own tokens.
        self.keyring = keyring

    # accounts ------------------------------------------------------------------------------

    async def register(
        self, session: AsyncSession, *, email: str, password: str, display_name: str, role: str
    ) -> User:
        """Self-service sign-up of a client or clinician."""
        if role not in SELF_SERVICE_ROLES:
            raise RoleNotSelfService("only clients and clinicians can register themselves")
        return await self.create_user(
            session, email=email, password=password, display_name=display_name, role=role
        )

    async def create_user(
        self, session: AsyncSession, *, email: str, password: str, display_name: str, role: str
    ) -> User:
        """Create an account of any role and queue ``UserRegistered``."""
        if role not in ROLES:
            raise InvalidAccountDetails(f"role: must be one of {', '.join(ROLES)}")
        normalized = normalize_email(email)
        _check_password(password)
        name = _clean_display_name(display_name)
        if await repository.user_by_email(session, normalized) is not None:
            raise EmailAlreadyRegistered()
        user = await repository.add_user(
            session,
            User(
                email=normalized,
                display_name=name,
                role=role,
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

    async def log_in(self, session: AsyncSession, *, email: str, password: str) -> LoggedIn:
        """Check a password and issue an access token; one error for every way it fails."""
        try:
            user = await repository.user_by_email(session, normalize_email(email))
        except InvalidAccountDetails:
            user = None
        if user is None:
            await self._passwords.verify_decoy(password)
            raise InvalidCredentials()
        if not await self._passwords.verify(user.password_hash, password):
            raise InvalidCredentials()
        # Checked after the password, so a wrong guess cannot tell a disabled account apart.
        if not user.is_active:
            raise InvalidCredentials()
        if self._passwords.needs_rehash(user.password_hash):
            user.password_hash = await self._passwords.hash(password)
            session.add(user)
        access = await self._issue(
            session,
            user,
            audience=self._policy.audience,
            ttl_seconds=self._policy.access_ttl_seconds,
        )
        return LoggedIn(user=user, access=access)

    async def active_user(self, session: AsyncSession, principal: Principal) -> User:
        """The account behind a verified token, if it still exists and is active."""
        user = await repository.user_by_id(session, principal.user_id)
        if user is None or not user.is_active:
            raise AccountUnavailable()
        return user

    async def issue_signaling_token(
        self, session: AsyncSession, principal: Principal, session_id: uuid.UUID
    ) -> IssuedToken:
        """A short-lived token for joining one session's room.

        Whether the caller belongs in that session is for signaling to decide, from its own
        projection of appointments; identity only vouches for who the caller is.
        """
        user = await self.active_user(session, principal)
        return await self._issue(
            session,
            user,
            audience=self._policy.signaling_audience,
            ttl_seconds=self._policy.signaling_ttl_seconds,
            extra_claims={"sid": str(session_id)},
        )

    async def seed_demo(self, session: AsyncSession) -> list[SeededAccount]:
        """Create the demo accounts that are missing; leave existing ones untouched."""
        seeded = []
        for account in DEMO_ACCOUNTS:
            user = await repository.user_by_email(session, normalize_email(account.email))
            created = user is None
            if user is None:
                user = await self.create_user(
                    session,
                    email=account.email,
                    password=account.password,
                    display_name=account.display_name,
                    role=account.role,
                )
            seeded.append(SeededAccount(account=account, user_id=user.id, created=created))
        return seeded

    # signing keys --------------------------------------------------------------------------

    async def ensure_signing_key(self, session: AsyncSession) -> SigningKey:
        """The key that signs now, created on first use."""
        key = await repository.newest_active_key(session)
        if key is None:
            key = await repository.add_signing_key(session, generate_signing_key())
            log.info("created signing key", extra={"kid": key.kid})
        return key

    async def rotate_signing_keys(self, session: AsyncSession) -> KeyRotation:
        """Add a key that signs from now on; retire the old ones (they verify a while longer)."""
        now = utc_now()
        retired = await repository.retire_active_keys(session, at=now)
        key = await repository.add_signing_key(session, generate_signing_key(created_at=now))
        log.info("rotated signing keys", extra={"kid": key.kid, "retired": retired})
        return KeyRotation(new_kid=key.kid, retired_kids=retired)

    async def published_keys(self, session: AsyncSession) -> list[dict[str, Any]]:
        """Public JWKs of every key that may still verify a token: the JWKS contents."""
        keys = await repository.verifying_keys(session, utc_now() - self._policy.key_retention)
        return [dict(key.public_jwk) for key in keys]

    async def _issue(
        self,
        session: AsyncSession,
        user: User,
        *,
        audience: str,
        ttl_seconds: int,
        extra_claims: dict[str, Any] | None = None,
    ) -> IssuedToken:
        key = await self.ensure_signing_key(session)
        now = int(time.time())
        token_id = str(uuid.uuid4())
        claims: dict[str, Any] = {
            "iss": self._policy.issuer,
            "aud": audience,
            "sub": str(user.id),
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            "jti": token_id,
            "role": user.role,
            # Users get no scopes yet; partner apps' client-credential tokens will carry them.
            "scope": "",
            **(extra_claims or {}),
        }
        token = jwt.encode(
            claims, self.keyring.signer(key), algorithm=ALGORITHM, headers={"kid": key.kid}
        )
        return IssuedToken(token=token, expires_in=ttl_seconds, token_id=token_id, kid=key.kid)
