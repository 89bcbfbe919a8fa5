"""Sign-in: passwords and the second factor (TOTP), throttling, refresh and logout, password
changes and resets, and the signaling token a sign-in asks for."""

from services.identity.sign_in.login_throttle import AccountLocks, AddressThrottle, LoginThrottle
from services.identity.sign_in.reset_delivery import ResetDelivery, UndeliveredResets
from services.identity.sign_in.service import LoggedIn, SignIn

__all__ = [
    "AccountLocks",
    "AddressThrottle",
    "LoggedIn",
    "LoginThrottle",
    "ResetDelivery",
    "SignIn",
    "UndeliveredResets",
]
