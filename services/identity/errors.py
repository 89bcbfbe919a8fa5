"""Errors the identity service raises on purpose (subclasses of the shared error tree)."""

from __future__ import annotations

from shared.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RapportError,
    RateLimited,
    Unauthorized,
)


class InvalidCredentials(Unauthorized):
    """Login failed. One message for unknown email and wrong password, so neither leaks."""

    def __init__(self) -> None:
        super().__init__("email or password is incorrect")


class AccountUnavailable(Unauthorized):
    """A valid token whose user no longer exists or has been deactivated."""

    def __init__(self) -> None:
        super().__init__("this account is not active")


class SignedOut(Unauthorized):
    """A valid token of a sign-in that has since been logged out (its refresh family revoked)."""

    def __init__(self) -> None:
        super().__init__("this sign-in has ended")


class EmailAlreadyRegistered(Conflict):
    """Another account already uses this email address (compared case-insensitively)."""

    def __init__(self) -> None:
        super().__init__("an account with this email already exists")


class RoleNotSelfService(Forbidden):
    """Only clients and clinicians register themselves; admins are created by an operator."""


class InvalidAccountDetails(InvalidRequest):
    """Account details that break a rule (email format, password length, display name)."""


class LoginThrottled(RateLimited):
    """Too many login attempts from this address, or too many failures for this email.

    The same for an email with no account, so it reveals nothing about which ones exist.
    """

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(
            "too many login attempts; try again later",
            headers={"Retry-After": str(retry_after_seconds)},
            retry_after_seconds=retry_after_seconds,
        )


class InvalidRefreshToken(Unauthorized):
    """A refresh token that is unknown, expired, already used, or of a revoked family."""

    def __init__(self) -> None:
        super().__init__("refresh token is invalid or expired")


class SignInExpired(Unauthorized):
    """The sign-in ended: idle longer than its idle timeout, or past its absolute lifetime.
    Its refresh tokens and the sockets it opened are ended; the user signs in again."""

    def __init__(self, reason: str) -> None:
        detail = (
            "sign-in ended: idle for longer than the idle timeout; sign in again"
            if reason == "idle_timeout"
            else "sign-in ended: past its absolute lifetime; sign in again"
        )
        super().__init__(detail, reason=reason)


class UserNotFound(NotFound):
    """No account with this id."""

    def __init__(self) -> None:
        super().__init__("no such user")


class MfaRequired(Unauthorized):
    """The password was right, and this account also needs a TOTP or recovery code."""

    def __init__(self) -> None:
        super().__init__(
            "a one-time code is required for this account", mfa=["totp", "recovery_code"]
        )


class InvalidMfaCode(Unauthorized):
    """A TOTP code that is wrong, expired or already used, or an unknown recovery code."""

    def __init__(self) -> None:
        super().__init__("the one-time code is incorrect")


class MfaAlreadyEnabled(Conflict):
    """TOTP is already in force for this account."""

    def __init__(self) -> None:
        super().__init__("two-factor authentication is already enabled")


class MfaNotEnrolled(Conflict):
    """A confirmation without an enrollment first."""

    def __init__(self) -> None:
        super().__init__("start a TOTP enrollment first")


class PartnerAppNotFound(NotFound):
    """No partner app with this client id."""

    def __init__(self) -> None:
        super().__init__("no such partner app")


class UnknownScope(InvalidRequest):
    """A scope partner apps cannot be given."""


class InvalidPartnerKeys(InvalidRequest):
    """A partner app's JWKS that holds no usable public key, or a JWKS URL that is refused."""


class OAuthError(Exception):
    """An RFC 6749 section 5.2 error from the token endpoint.

    Not a RapportError: OAuth clients expect the protocol's own body (``error`` is one of the
    RFC's codes, ``error_description`` the prose), so the token endpoint keeps its format.
    """

    def __init__(self, error: str, description: str, *, status_code: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status_code = status_code


class InvalidResetToken(InvalidRequest):
    """A password reset token that is unknown, expired or already used."""

    def __init__(self) -> None:
        super().__init__("this password reset link is invalid or has expired")


class WrongCurrentPassword(Forbidden):
    """Changing a password needs the current one."""

    def __init__(self) -> None:
        super().__init__("the current password is incorrect")


class AccountPendingApproval(Forbidden):
    """A self-registered clinician whom no admin has approved yet."""

    def __init__(self) -> None:
        super().__init__("this clinician account is waiting for approval")


class InvitationRequired(Forbidden):
    """Clients join through an invitation from their clinician."""

    def __init__(self) -> None:
        super().__init__("a valid invitation is required to join as a client")


class LinkNoLongerValid(RapportError):
    """A reset or invitation link asked for after it was used or expired: nothing to send."""

    status_code = 410

    def __init__(self) -> None:
        super().__init__("this link has been used or has expired")


class GuestLinkNotFound(NotFound):
    """No guest link with this token, or none of the calling clinician's with this id."""

    def __init__(self) -> None:
        super().__init__("no such guest link")


class GuestLinkGone(RapportError):
    """A guest link that existed but works no more (used, expired or revoked)."""

    status_code = 410


class GuestLinkUsed(GuestLinkGone):
    """The guest link was already used: each link lets one guest in, once."""

    def __init__(self) -> None:
        super().__init__("this guest link was already used; ask the clinician for a new one")


class GuestLinkExpired(GuestLinkGone):
    """The guest link expired before it was used."""

    def __init__(self) -> None:
        super().__init__("this guest link has expired; ask the clinician for a new one")


class GuestLinkRevoked(GuestLinkGone):
    """The clinician revoked the guest link."""

    def __init__(self) -> None:
        super().__init__("the clinician has withdrawn this guest link")
