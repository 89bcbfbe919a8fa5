"""What makes account details valid, and the form they are stored in."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from services.identity.errors import InvalidAccountDetails
from services.identity.models import DISPLAY_NAME_MAX_LENGTH, ROLES
from services.identity.passwords import password_problem


def normalize_email(address: str) -> str:
    """The canonical, lower-case form of ``address`` that accounts are stored and found by."""
    try:
        parsed = validate_email(address.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAccountDetails(f"email: {exc}") from exc
    return parsed.normalized.lower()


def check_password(password: str) -> None:
    """Refuse a password the policy does not allow."""
    problem = password_problem(password)
    if problem is not None:
        raise InvalidAccountDetails(f"password: {problem}")


def check_time_zone(time_zone: str) -> str:
    """``time_zone`` if it is an IANA time zone name."""
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidAccountDetails("time_zone: not an IANA time zone name") from exc
    return time_zone


def clean_display_name(display_name: str) -> str:
    """The display name without surrounding blanks, if its length is allowed."""
    cleaned = display_name.strip()
    if not 1 <= len(cleaned) <= DISPLAY_NAME_MAX_LENGTH:
        raise InvalidAccountDetails(
            f"display_name: must be 1 to {DISPLAY_NAME_MAX_LENGTH} characters long"
        )
    return cleaned


def check_role(role: str) -> None:
    """Refuse a role Rapport does not have."""
    if role not in ROLES:
        raise InvalidAccountDetails(f"role: must be one of {', '.join(ROLES)}")
