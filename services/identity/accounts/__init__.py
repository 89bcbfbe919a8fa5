"""Accounts: sign-up, accounts an admin creates, profiles, approval, roles and disabling."""

from services.identity.accounts.rules import check_password, clean_display_name, normalize_email
from services.identity.accounts.schemas import DisplayName
from services.identity.accounts.schemas import User as UserView
from services.identity.accounts.service import Accounts, SignupPolicy

__all__ = [
    "Accounts",
    "DisplayName",
    "SignupPolicy",
    "UserView",
    "check_password",
    "clean_display_name",
    "normalize_email",
]
