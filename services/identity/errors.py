"""Errors the identity service raises on purpose (subclasses of the shared error tree)."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, InvalidRequest, Unauthorized


class InvalidCredentials(Unauthorized):
    """Login failed. One message for unknown email and wrong password, so neither leaks."""

    def __init__(self) -> None:
        super().__init__("email or password is incorrect")


class AccountUnavailable(Unauthorized):
    """A valid token whose user no longer exists or has been deactivated."""

    def __init__(self) -> None:
        super().__init__("this account is not active")


class EmailAlreadyRegistered(Conflict):
    """Another account already uses this email address (compared case-insensitively)."""

    def __init__(self) -> None:
        super().__init__("an account with this email already exists")


class RoleNotSelfService(Forbidden):
    """Only clients and clinicians register themselves; admins are created by an operator."""


class InvalidAccountDetails(InvalidRequest):
    """Account details that break a rule (email format, password length, display name)."""
