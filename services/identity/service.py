"""Identity's use cases: accounts, logging in, issuing tokens, and rotating signing keys.

Nothing here commits: the caller (an HTTP request, a CLI command) owns the unit of work, so a
new account and its ``UserRegistered`` outbox row are stored together or not at all.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jwt
from email_validator import EmailNotValidError, validate_email
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository, totp
from services.identity.errors import (
    AccountPendingApproval,
    AccountUnavailable,
    EmailAlreadyRegistered,
    InvalidAccountDetails,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidResetToken,
    InvitationRequired,
    LoginThrottled,
    MfaAlreadyEnabled,
    MfaNotEnrolled,
    MfaRequired,
    OAuthError,
    PartnerAppNotFound,
    RoleNotSelfService,
    SignedOut,
    UnknownScope,
    UserNotFound,
    WrongCurrentPassword,
)
from services.identity.login_throttle import LoginThrottle
from services.identity.models import (
    DISPLAY_NAME_MAX_LENGTH,
    ROLES,
    SELF_SERVICE_ROLES,
    Invitation,
    PartnerApp,
    PasswordReset,
    RefreshFamily,
    RefreshToken,
    SigningKey,
    User,
)
from services.identity.passwords import PasswordHashing, password_problem
from services.identity.reset_delivery import ResetDelivery, UndeliveredResets
from services.identity.secret_box import totp_context
from services.identity.settings import IdentitySettings
from services.identity.signing_keys import ALGORITHM, Keyring
from shared.db import utc_now
from shared.events.catalog import (
    InvitationAccepted,
    PartnerAccessGranted,
    PartnerAccessRevoked,
    PartnerRegistered,
    PartnerSecretRotated,
    TokensRevoked,
    UserDeactivated,
    UserRegistered,
    UserRoleChanged,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope
from shared.tokens import FAMILY_CLAIM, Principal

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
    password_reset_ttl_seconds: int = 1800
    refresh_idle_seconds: int = 14 * 24 * 3600
    refresh_absolute_seconds: int = 30 * 24 * 3600

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
            password_reset_ttl_seconds=settings.password_reset_ttl_seconds,
            refresh_idle_seconds=settings.refresh_idle_timeout_seconds,
            refresh_absolute_seconds=settings.refresh_absolute_lifetime_seconds,
        )

    @property
    def key_retention(self) -> timedelta:
        """How long a retired key keeps verifying: until every token it signed has expired."""
        longest = max(self.access_ttl_seconds, self.signaling_ttl_seconds)
        return timedelta(seconds=longest + self.retirement_grace_seconds)


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


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation token for the clinician to pass on (shown once, stored hashed)."""

    token: str
    email: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    """A signed token and what a caller needs to know about it."""

    token: str
    expires_in: int
    token_id: str
    kid: str


@dataclass(frozen=True)
class IssuedRefreshToken:
    """An opaque refresh token, shown to its holder once and stored only hashed."""

    token: str
    expires_in: int
    family_id: uuid.UUID


@dataclass(frozen=True)
class LoggedIn:
    """The result of a successful login or refresh."""

    user: User
    access: IssuedToken
    refresh: IssuedRefreshToken


@dataclass(frozen=True)
class RefreshRefused:
    """A refresh that failed. When ``revoked_family`` is set, the refusal revoked that family
    (a reused token), and the caller must commit before answering so the revocation holds."""

    revoked_family: uuid.UUID | None = None


@dataclass(frozen=True)
class PartnerCredentials:
    """A partner app's client id and secret; the secret is shown this once."""

    app: PartnerApp
    client_secret: str


def hash_client_secret(secret: str) -> str:
    """The stored form of a partner app's client secret."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def hash_refresh_token(token: str) -> str:
    """The stored form of a refresh token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class DemoSeed:
    """What seeding did: the demo accounts, and whether this run linked the demo client to
    the demo clinician (an accepted invitation)."""

    accounts: list[SeededAccount]
    linked: bool


def normalize_email(address: str) -> str:
    """The canonical, lower-case form of ``address`` that accounts are stored and found by."""
    try:
        parsed = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAccountDetails(f"email: {exc}") from exc
    return parsed.normalized.lower()


def _check_password(password: str) -> None:
    problem = password_problem(password)
    if problem is not None:
        raise InvalidAccountDetails(f"password: {problem}")


def _check_time_zone(time_zone: str) -> str:
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidAccountDetails("time_zone: not an IANA time zone name") from exc
    return time_zone


def _clean_display_name(display_name: str) -> str:
    cleaned = display_name.strip()
    if not 1 <= len(cleaned) <= DISPLAY_NAME_MAX_LENGTH:
        raise InvalidAccountDetails(
            f"display_name: must be 1 to {DISPLAY_NAME_MAX_LENGTH} characters long"
        )
    return cleaned


class IdentityService:
    """Identity's use cases, built once in the composition root."""

    def __init__(
        self,
        *,
        passwords: PasswordHashing,
        keyring: Keyring,
        policy: TokenPolicy,
        throttle: LoginThrottle | None = None,
        resets: ResetDelivery | None = None,
        signup: SignupPolicy | None = None,
    ):
        self._passwords = passwords
        self._signup = signup or SignupPolicy()
        self._resets = resets or UndeliveredResets()
        self._policy = policy
        self._throttle = throttle
        # Public because it is also the KeySource that verifies identity's own tokens.
        self.keyring = keyring

    # accounts ------------------------------------------------------------------------------

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
            invited = await self._valid_invitation(session, invitation, email)
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
            self._accept(session, invited, user)
        return user

    def _accept(self, session: AsyncSession, invitation: Invitation, client: User) -> None:
        """Mark the invitation accepted by ``client`` and queue ``InvitationAccepted`` (records
        links the two from it), in the caller's unit of work."""
        invitation.accepted_at = utc_now()
        invitation.accepted_by = client.id
        session.add(invitation)
        add_event(
            session,
            InvitationAccepted(
                invitation_id=invitation.id,
                clinician_id=invitation.clinician_id,
                client_id=client.id,
                accepted_at=invitation.accepted_at,
            ),
            source=EVENT_SOURCE,
        )

    async def _valid_invitation(
        self, session: AsyncSession, token: str | None, email: str
    ) -> Invitation:
        found = await repository.invitation(session, hash_refresh_token(token)) if token else None
        if (
            found is None
            or found.accepted_at is not None
            or found.expires_at <= utc_now()
            or found.email != normalize_email(email)
        ):
            raise InvitationRequired()
        return found

    async def invite_client(
        self, session: AsyncSession, principal: Principal, email: str
    ) -> IssuedInvitation:
        """A clinician invites a client by email: one use, expires."""
        principal.require_role("clinician")
        clinician = await self.active_user(session, principal)
        token = secrets.token_urlsafe(32)
        invitation = Invitation(
            token_hash=hash_refresh_token(token),
            clinician_id=clinician.id,
            email=normalize_email(email),
            expires_at=utc_now() + timedelta(seconds=self._signup.invitation_ttl_seconds),
        )
        await repository.add_invitation(session, invitation)
        return IssuedInvitation(
            token=token, email=invitation.email, expires_at=invitation.expires_at
        )

    async def approve_clinician(
        self, session: AsyncSession, principal: Principal, user_id: uuid.UUID
    ) -> User:
        """An admin approves a self-registered clinician."""
        principal.require_role("admin")
        user = await repository.user_by_id(session, user_id)
        if user is None:
            raise UserNotFound()
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
            user.display_name = _clean_display_name(display_name)
        if time_zone is not None:
            user.time_zone = _check_time_zone(time_zone)
        session.add(user)
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
        if role not in ROLES:
            raise InvalidAccountDetails(f"role: must be one of {', '.join(ROLES)}")
        normalized = normalize_email(email)
        _check_password(password)
        name = _clean_display_name(display_name)
        zone = _check_time_zone(time_zone)
        if await repository.user_by_email(session, normalized) is not None:
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

    async def log_in(
        self,
        session: AsyncSession,
        *,
        email: str,
        password: str,
        client_address: str = "",
        otp: str | None = None,
        recovery_code: str | None = None,
    ) -> LoggedIn:
        """Check a password and issue tokens; one error for every way it fails.

        An unknown email costs a decoy hash, counts towards a lock and is refused with the same
        error as a wrong password, so status, body and timing say nothing about the account.
        """
        try:
            normalized = normalize_email(email)
        except InvalidAccountDetails:
            normalized = email.strip().lower()
        if self._throttle is not None:
            refusal = await self._throttle.admit(session, email=normalized, address=client_address)
            if refusal is not None:
                log.info("login throttled", extra={"reason": refusal.reason})
                raise LoginThrottled(refusal.retry_after_seconds)
        user = await repository.user_by_email(session, normalized)
        if user is None:
            await self._passwords.verify_decoy(password)
            await self._failed(normalized)
        elif not await self._passwords.verify(user.password_hash, password):
            await self._failed(normalized)
        # Checked after the password, so a wrong guess cannot tell a disabled account apart.
        if user is None or not user.is_active:
            raise InvalidCredentials()
        # After the password: only the account's owner learns that it is waiting.
        if not user.is_approved:
            raise AccountPendingApproval()
        if user.mfa_enabled:
            await self._second_factor(session, user, normalized, otp, recovery_code)
        if self._throttle is not None:
            await self._throttle.succeeded(session, normalized)
        if self._passwords.needs_rehash(user.password_hash):
            user.password_hash = await self._passwords.hash(password)
            session.add(user)
        family = await repository.add_refresh_family(
            session,
            RefreshFamily(
                user_id=user.id,
                expires_at=utc_now() + timedelta(seconds=self._policy.refresh_absolute_seconds),
            ),
        )
        return LoggedIn(
            user=user,
            access=await self._issue_access(session, user, family),
            refresh=await self._issue_refresh(session, family),
        )

    async def _second_factor(
        self,
        session: AsyncSession,
        user: User,
        email: str,
        otp: str | None,
        recovery_code: str | None,
    ) -> None:
        if otp:
            step = totp.matching_step(self._totp_secret(user), otp, after_step=user.totp_last_step)
            if step is not None:
                user.totp_last_step = step
                session.add(user)
                return
        elif recovery_code:
            code = await repository.unused_recovery_code(
                session, user.id, totp.hash_recovery_code(recovery_code)
            )
            if code is not None:
                code.used_at = utc_now()
                session.add(code)
                return
        else:
            raise MfaRequired()
        # Wrong codes count towards the lock: six digits must not be guessable at leisure.
        if self._throttle is not None:
            await self._throttle.failed(email)
        raise InvalidMfaCode()

    def _totp_secret(self, user: User) -> str:
        """The user's TOTP secret, opened from its sealed stored form."""
        assert user.totp_secret is not None
        return self.keyring.box.open(user.totp_secret, context=totp_context(user.id))

    async def enroll_totp(self, session: AsyncSession, principal: Principal) -> tuple[str, str]:
        """Start TOTP enrollment: a new secret and its otpauth URI, not in force until
        confirmed with a code from it."""
        user = await self.active_user(session, principal)
        if user.mfa_enabled:
            raise MfaAlreadyEnabled()
        secret = totp.new_secret()
        user.totp_secret = self.keyring.box.seal(secret, context=totp_context(user.id))
        session.add(user)
        return secret, totp.provisioning_uri(secret, user.email)

    async def confirm_totp(
        self, session: AsyncSession, principal: Principal, code: str
    ) -> list[str]:
        """Put TOTP in force after a correct code; return fresh recovery codes (shown once)."""
        user = await self.active_user(session, principal)
        if user.mfa_enabled:
            raise MfaAlreadyEnabled()
        if user.totp_secret is None:
            raise MfaNotEnrolled()
        step = totp.matching_step(self._totp_secret(user), code, after_step=None)
        if step is None:
            raise InvalidMfaCode()
        user.totp_enabled_at = utc_now()
        user.totp_last_step = step
        session.add(user)
        codes = totp.new_recovery_codes()
        await repository.replace_recovery_codes(
            session, user.id, [totp.hash_recovery_code(c) for c in codes]
        )
        log.info("totp enabled", extra={"user_id": str(user.id)})
        return codes

    async def register_partner(
        self, session: AsyncSession, principal: Principal, *, name: str, scopes: list[str]
    ) -> PartnerCredentials:
        """An admin registers a partner app; the secret is returned once, stored hashed."""
        principal.require_role("admin")
        unknown = sorted(set(scopes) - set(PartnerScope))
        if unknown or not scopes:
            raise UnknownScope(f"scopes: choose from {', '.join(PartnerScope)}")
        secret = secrets.token_urlsafe(32)
        app = await repository.add_partner_app(
            session,
            PartnerApp(
                client_id=f"pa_{secrets.token_hex(12)}",
                name=_clean_display_name(name),
                secret_hash=hash_client_secret(secret),
                scopes=sorted(set(scopes)),
                created_by=principal.user_id,
            ),
        )
        add_event(
            session,
            PartnerRegistered(
                client_id=app.client_id, scopes=app.scopes, registered_at=app.created_at
            ),
            source=EVENT_SOURCE,
        )
        return PartnerCredentials(app=app, client_secret=secret)

    async def rotate_partner_secret(
        self, session: AsyncSession, principal: Principal, client_id: str
    ) -> PartnerCredentials:
        """A new secret for the partner app; the old one stops working at once."""
        principal.require_role("admin")
        app = await repository.partner_app(session, client_id)
        if app is None:
            raise PartnerAppNotFound()
        secret = secrets.token_urlsafe(32)
        app.secret_hash = hash_client_secret(secret)
        app.secret_rotated_at = utc_now()
        session.add(app)
        add_event(
            session,
            PartnerSecretRotated(client_id=app.client_id, rotated_at=app.secret_rotated_at),
            source=EVENT_SOURCE,
        )
        return PartnerCredentials(app=app, client_secret=secret)

    async def grant_partner(
        self, session: AsyncSession, principal: Principal, client_id: str
    ) -> None:
        """A clinician lets a partner app act on their own practice's data."""
        principal.require_role("clinician")
        if await repository.partner_app(session, client_id) is None:
            raise PartnerAppNotFound()
        await repository.grant_partner(session, client_id, principal.user_id)
        # Other services (webhooks) limit the partner to these clinicians from this event.
        add_event(
            session,
            PartnerAccessGranted(
                client_id=client_id, clinician_id=principal.user_id, granted_at=utc_now()
            ),
            source=EVENT_SOURCE,
        )

    async def revoke_partner_grant(
        self, session: AsyncSession, principal: Principal, client_id: str
    ) -> None:
        """A clinician withdraws a partner app's access to their practice's data.

        New tokens of the app no longer name the clinician; ``partner.access_revoked`` tells
        other services (webhooks stops delivering the clinician's events to the app). Tokens
        already issued keep their ``clinicians`` claim until they expire (at most the access
        token lifetime). Revoking a grant that does not exist changes nothing.
        """
        principal.require_role("clinician")
        if await repository.partner_app(session, client_id) is None:
            raise PartnerAppNotFound()
        if await repository.revoke_partner_grant(session, client_id, principal.user_id):
            add_event(
                session,
                PartnerAccessRevoked(
                    client_id=client_id, clinician_id=principal.user_id, revoked_at=utc_now()
                ),
                source=EVENT_SOURCE,
            )

    async def client_credentials(
        self, session: AsyncSession, *, client_id: str, client_secret: str, scope: str | None
    ) -> tuple[IssuedToken, list[str]]:
        """RFC 6749 section 4.4: an access token for the partner app itself.

        ``sub`` is the client id (never a user id), ``role`` is ``partner``, ``scope`` what was
        asked for (default: everything registered), and ``clinicians`` the clinicians who
        granted access: services limit a partner to their data.
        """
        app = await repository.partner_app(session, client_id)
        expected = app.secret_hash if app is not None else hash_client_secret("")
        matches = hmac.compare_digest(expected, hash_client_secret(client_secret))
        if app is None or not matches or not app.is_active:
            raise OAuthError("invalid_client", "client authentication failed", status_code=401)
        requested = sorted(set(scope.split())) if scope else list(app.scopes)
        if not set(requested) <= set(app.scopes):
            raise OAuthError("invalid_scope", "a requested scope is not granted to this client")
        clinicians = await repository.granting_clinicians(session, client_id)
        key = await self.ensure_signing_key(session)
        now = int(time.time())
        ttl = self._policy.access_ttl_seconds
        token_id = str(uuid.uuid4())
        claims: dict[str, Any] = {
            "iss": self._policy.issuer,
            "aud": self._policy.audience,
            "sub": client_id,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": token_id,
            "role": "partner",
            "scope": " ".join(requested),
            "clinicians": [str(c) for c in clinicians],
        }
        token = jwt.encode(
            claims, self.keyring.signer(key), algorithm=ALGORITHM, headers={"kid": key.kid}
        )
        return IssuedToken(token=token, expires_in=ttl, token_id=token_id, kid=key.kid), requested

    async def change_password(
        self, session: AsyncSession, principal: Principal, *, current: str, new: str
    ) -> None:
        """Change the caller's password; every refresh token family of theirs ends."""
        user = await self.active_user(session, principal)
        if not await self._passwords.verify(user.password_hash, current):
            raise WrongCurrentPassword()
        await self._set_password(session, user, new)

    async def request_password_reset(self, session: AsyncSession, email: str) -> None:
        """Send a reset link if the account exists; the caller learns nothing either way."""
        try:
            user = await repository.user_by_email(session, normalize_email(email))
        except InvalidAccountDetails:
            return
        if user is None or not user.is_active:
            return
        token = secrets.token_urlsafe(32)
        await repository.add_password_reset(
            session,
            PasswordReset(
                token_hash=hash_refresh_token(token),
                user_id=user.id,
                expires_at=utc_now() + timedelta(seconds=self._policy.password_reset_ttl_seconds),
            ),
        )
        await self._resets.send(user_id=user.id, email=user.email, token=token)

    async def reset_password(self, session: AsyncSession, *, token: str, new: str) -> None:
        """Set a new password with a reset token (single use, short-lived)."""
        reset = await repository.password_reset(session, hash_refresh_token(token))
        if reset is None or reset.used_at is not None or reset.expires_at <= utc_now():
            raise InvalidResetToken()
        user = await repository.user_by_id(session, reset.user_id)
        if user is None or not user.is_active:
            raise InvalidResetToken()
        _check_password(new)
        reset.used_at = utc_now()
        session.add(reset)
        await self._set_password(session, user, new)

    async def _set_password(self, session: AsyncSession, user: User, new: str) -> None:
        _check_password(new)
        user.password_hash = await self._passwords.hash(new)
        session.add(user)
        await self._revoke_all(session, user, reason="password_changed", at=utc_now())

    async def _failed(self, email: str) -> None:
        if self._throttle is not None:
            await self._throttle.failed(email)
        raise InvalidCredentials()

    async def refresh(self, session: AsyncSession, token: str) -> LoggedIn | RefreshRefused:
        """Rotate a refresh token: the presented one is used up, a new one and an access token
        are issued. Presenting a used token again revokes its whole family (RFC 9700 4.14.2):
        either the holder or a thief has a copy, and we cannot tell which."""
        found = await repository.refresh_token_by_hash(session, hash_refresh_token(token))
        if found is None:
            return RefreshRefused()
        stored, family = found
        now = utc_now()
        if family.revoked_at is not None:
            return RefreshRefused()
        if stored.used_at is not None:
            await self._revoke_family(session, family, reason="refresh_reuse", at=now)
            log.warning("refresh token reused; family revoked", extra={"family": str(family.id)})
            return RefreshRefused(revoked_family=family.id)
        if stored.expires_at <= now or family.expires_at <= now:
            return RefreshRefused()
        user = await repository.user_by_id(session, family.user_id)
        if user is None or not user.is_active:
            return RefreshRefused()
        stored.used_at = now
        session.add(stored)
        return LoggedIn(
            user=user,
            access=await self._issue_access(session, user, family),
            refresh=await self._issue_refresh(session, family),
        )

    async def log_out(self, session: AsyncSession, token: str) -> None:
        """Revoke the family of ``token``. Unknown or already revoked tokens are fine: the
        result the caller wants (that token no longer works) holds either way."""
        found = await repository.refresh_token_by_hash(session, hash_refresh_token(token))
        if found is not None and found[1].revoked_at is None:
            await self._revoke_family(session, found[1], reason="logout", at=utc_now())

    async def deactivate(
        self, session: AsyncSession, principal: Principal, user_id: uuid.UUID
    ) -> User:
        """An admin disables an account: it cannot log in, and every token it holds is
        refused (its refresh families here; its access tokens wherever the event reaches)."""
        principal.require_role("admin")
        user = await repository.user_by_id(session, user_id)
        if user is None:
            raise UserNotFound()
        if user.is_active:
            now = utc_now()
            user.is_active = False
            session.add(user)
            await self._revoke_all(session, user, reason="deactivated", at=now)
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
        if role not in ROLES:
            raise InvalidAccountDetails(f"role: must be one of {', '.join(ROLES)}")
        user = await repository.user_by_id(session, user_id)
        if user is None:
            raise UserNotFound()
        if user.role != role:
            now = utc_now()
            old_role, user.role = user.role, role
            session.add(user)
            await self._revoke_all(session, user, reason="role_changed", at=now)
            add_event(
                session,
                UserRoleChanged(user_id=user.id, old_role=old_role, new_role=role, changed_at=now),
                source=EVENT_SOURCE,
            )
        return user

    async def _revoke_all(
        self, session: AsyncSession, user: User, *, reason: str, at: datetime
    ) -> None:
        for family in await repository.active_families_of(session, user.id):
            family.revoked_at, family.revoked_reason = at, reason
            session.add(family)
        add_event(
            session,
            TokensRevoked(user_id=user.id, family_id=None, reason=reason, revoked_before=at),
            source=EVENT_SOURCE,
        )

    async def _revoke_family(
        self, session: AsyncSession, family: RefreshFamily, *, reason: str, at: datetime
    ) -> None:
        family.revoked_at, family.revoked_reason = at, reason
        session.add(family)
        add_event(
            session,
            TokensRevoked(
                user_id=family.user_id, family_id=family.id, reason=reason, revoked_before=at
            ),
            source=EVENT_SOURCE,
        )

    async def _issue_access(
        self, session: AsyncSession, user: User, family: RefreshFamily
    ) -> IssuedToken:
        return await self._issue(
            session,
            user,
            audience=self._policy.audience,
            ttl_seconds=self._policy.access_ttl_seconds,
            # Names the sign-in, so that its logout can end this token (and the signaling
            # tokens requested with it) and no other device's.
            extra_claims={FAMILY_CLAIM: str(family.id)},
        )

    async def _issue_refresh(
        self, session: AsyncSession, family: RefreshFamily
    ) -> IssuedRefreshToken:
        token = secrets.token_urlsafe(32)  # 256 random bits
        now = utc_now()
        expires_at = min(
            now + timedelta(seconds=self._policy.refresh_idle_seconds), family.expires_at
        )
        await repository.add_refresh_token(
            session,
            RefreshToken(
                token_hash=hash_refresh_token(token),
                family_id=family.id,
                issued_at=now,
                expires_at=expires_at,
            ),
        )
        return IssuedRefreshToken(
            token=token,
            expires_in=max(0, int((expires_at - now).total_seconds())),
            family_id=family.id,
        )

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
        claims: dict[str, Any] = {"sid": str(session_id)}
        if principal.family_id is not None:
            family = await repository.refresh_family(session, principal.family_id)
            # The gateway refuses a signed-out sign-in's access token once it hears of the
            # logout; identity knows at once, and mints nothing more from it.
            if family is None or family.user_id != user.id or family.revoked_at is not None:
                raise SignedOut()
            claims[FAMILY_CLAIM] = str(family.id)
        return await self._issue(
            session,
            user,
            audience=self._policy.signaling_audience,
            ttl_seconds=self._policy.signaling_ttl_seconds,
            extra_claims=claims,
        )

    async def seed_demo(self, session: AsyncSession) -> DemoSeed:
        """Create the demo accounts that are missing (leaving existing ones untouched), and
        link the demo client to the demo clinician through an accepted invitation unless one
        links them already: records starts their care relationship from the event."""
        seeded = []
        users: dict[str, User] = {}
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
            users[account.role] = user
        clinician, client = users["clinician"], users["client"]
        linked = False
        if not await repository.invited_by(session, client.id, clinician.id):
            invitation = Invitation(
                token_hash=hash_refresh_token(secrets.token_urlsafe(32)),
                clinician_id=clinician.id,
                email=client.email,
                expires_at=utc_now() + timedelta(seconds=self._signup.invitation_ttl_seconds),
            )
            await repository.add_invitation(session, invitation)
            self._accept(session, invitation, client)
            linked = True
        return DemoSeed(accounts=seeded, linked=linked)

    # signing keys --------------------------------------------------------------------------

    async def ensure_signing_key(self, session: AsyncSession) -> SigningKey:
        """The key that signs now, created on first use."""
        key = await repository.newest_active_key(session)
        if key is None:
            key = await repository.add_signing_key(session, self.keyring.new_key())
            log.info("created signing key", extra={"kid": key.kid})
        return key

    async def rotate_signing_keys(self, session: AsyncSession) -> KeyRotation:
        """Add a key that signs from now on; retire the old ones (they verify a while longer)."""
        now = utc_now()
        retired = await repository.retire_active_keys(session, at=now)
        key = await repository.add_signing_key(session, self.keyring.new_key(created_at=now))
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
