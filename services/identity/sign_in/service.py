"""Signing in: passwords and the second factor, throttling, refresh and logout, changing and
resetting passwords, and the signaling token a sign-in may ask for.

Nothing here commits: the caller owns the unit of work.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository as shared_reads
from services.identity.accounts import Accounts, check_password, normalize_email
from services.identity.errors import (
    AccountPendingApproval,
    InvalidAccountDetails,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidResetToken,
    LoginThrottled,
    MfaAlreadyEnabled,
    MfaNotEnrolled,
    MfaRequired,
    SignedOut,
    WrongCurrentPassword,
)
from services.identity.models import PasswordReset, User
from services.identity.passwords import PasswordHashing
from services.identity.secret_box import SecretBox, reset_token_context, totp_context
from services.identity.settings import EVENT_SOURCE
from services.identity.sign_in import repository, totp
from services.identity.sign_in.login_throttle import LoginThrottle
from services.identity.sign_in.reset_delivery import ResetDelivery, UndeliveredResets
from services.identity.tokens import (
    IssuedRefreshToken,
    IssuedToken,
    RefreshRefused,
    TokenPair,
    Tokens,
    hash_opaque_token,
    new_opaque_token,
)
from shared.db import utc_now
from shared.events.catalog import PasswordResetRequested
from shared.events.outbox import add_event
from shared.tokens import Principal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoggedIn:
    """The result of a successful login or refresh."""

    user: User
    access: IssuedToken
    refresh: IssuedRefreshToken

    @classmethod
    def of(cls, user: User, tokens: TokenPair) -> LoggedIn:
        return cls(user=user, access=tokens.access, refresh=tokens.refresh)


class SignIn:
    """Sign-in use cases, built once in the composition root."""

    def __init__(
        self,
        *,
        passwords: PasswordHashing,
        accounts: Accounts,
        tokens: Tokens,
        box: SecretBox,
        throttle: LoginThrottle | None = None,
        resets: ResetDelivery | None = None,
    ):
        self._passwords = passwords
        self._accounts = accounts
        self._tokens = tokens
        self._box = box
        self._throttle = throttle
        self._resets = resets or UndeliveredResets()

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
        user = await shared_reads.user_by_email(session, normalized)
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
        return LoggedIn.of(user, await self._tokens.start_family(session, user))

    async def _failed(self, email: str) -> None:
        if self._throttle is not None:
            await self._throttle.failed(email)
        raise InvalidCredentials()

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
        return self._box.open(user.totp_secret, context=totp_context(user.id))

    async def enroll_totp(self, session: AsyncSession, principal: Principal) -> tuple[str, str]:
        """Start TOTP enrollment: a new secret and its otpauth URI, not in force until
        confirmed with a code from it."""
        user = await self._accounts.active_user(session, principal)
        if user.mfa_enabled:
            raise MfaAlreadyEnabled()
        secret = totp.new_secret()
        user.totp_secret = self._box.seal(secret, context=totp_context(user.id))
        session.add(user)
        return secret, totp.provisioning_uri(secret, user.email)

    async def confirm_totp(
        self, session: AsyncSession, principal: Principal, code: str
    ) -> list[str]:
        """Put TOTP in force after a correct code; return fresh recovery codes (shown once)."""
        user = await self._accounts.active_user(session, principal)
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

    async def refresh(self, session: AsyncSession, token: str) -> LoggedIn | RefreshRefused:
        """Rotate a refresh token: the presented one is used up, a new one and an access token
        are issued (a reused one revokes its family: see ``Tokens.redeem``)."""
        family = await self._tokens.redeem(session, token)
        if isinstance(family, RefreshRefused):
            return family
        user = await shared_reads.user_by_id(session, family.user_id)
        if user is None or not user.is_active:
            return RefreshRefused()
        return LoggedIn.of(user, await self._tokens.continue_family(session, user, family))

    async def log_out(self, session: AsyncSession, token: str) -> None:
        """Revoke the family of ``token``. Unknown or already revoked tokens are fine: the
        result the caller wants (that token no longer works) holds either way."""
        await self._tokens.end_family_of(session, token)

    async def issue_signaling_token(
        self, session: AsyncSession, principal: Principal, session_id: uuid.UUID
    ) -> IssuedToken:
        """A short-lived token for joining one session's room.

        Whether the caller belongs in that session is for signaling to decide, from its own
        projection of appointments; identity only vouches for who the caller is.
        """
        user = await self._accounts.active_user(session, principal)
        family_id: str | None = None
        if principal.family_id is not None:
            family = await self._tokens.live_family(session, user, principal.family_id)
            # The gateway refuses a signed-out sign-in's access token once it hears of the
            # logout; identity knows at once, and mints nothing more from it.
            if family is None:
                raise SignedOut()
            family_id = str(family.id)
        return await self._tokens.signaling_token(session, user, session_id, family_id)

    async def change_password(
        self, session: AsyncSession, principal: Principal, *, current: str, new: str
    ) -> None:
        """Change the caller's password; every refresh token family of theirs ends."""
        user = await self._accounts.active_user(session, principal)
        if not await self._passwords.verify(user.password_hash, current):
            raise WrongCurrentPassword()
        await self._set_password(session, user, new)

    async def request_password_reset(self, session: AsyncSession, email: str) -> None:
        """Send a reset link if the account exists; the caller learns nothing either way."""
        try:
            user = await shared_reads.user_by_email(session, normalize_email(email))
        except InvalidAccountDetails:
            return
        if user is None or not user.is_active:
            return
        token = new_opaque_token()
        reset = PasswordReset(
            token_hash=hash_opaque_token(token),
            user_id=user.id,
            expires_at=utc_now()
            + timedelta(seconds=self._tokens.policy.password_reset_ttl_seconds),
        )
        # Sealed for the notifications service, which fetches it over the internal API: the
        # event names the request, never the token.
        reset.sealed_token = self._box.seal(token, context=reset_token_context(reset.id))
        await repository.add_password_reset(session, reset)
        add_event(
            session,
            PasswordResetRequested(
                reset_id=reset.id,
                user_id=user.id,
                requested_at=utc_now(),
                expires_at=reset.expires_at,
            ),
            source=EVENT_SOURCE,
        )
        await self._resets.send(user_id=user.id, email=user.email, token=token)

    async def reset_password(self, session: AsyncSession, *, token: str, new: str) -> None:
        """Set a new password with a reset token (single use, short-lived)."""
        reset = await repository.password_reset(session, hash_opaque_token(token))
        if reset is None or reset.used_at is not None or reset.expires_at <= utc_now():
            raise InvalidResetToken()
        user = await shared_reads.user_by_id(session, reset.user_id)
        if user is None or not user.is_active:
            raise InvalidResetToken()
        check_password(new)
        reset.used_at = utc_now()
        reset.sealed_token = None
        session.add(reset)
        await self._set_password(session, user, new)

    async def _set_password(self, session: AsyncSession, user: User, new: str) -> None:
        check_password(new)
        user.password_hash = await self._passwords.hash(new)
        session.add(user)
        await self._tokens.revoke_all(session, user, reason="password_changed", at=utc_now())
