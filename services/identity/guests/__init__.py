"""Guests without accounts: a clinician's one-time link for one session, and the guest token
it is exchanged for."""

from services.identity.guests.service import Guests, IssuedGuestLink, RedeemedGuestLink

__all__ = ["Guests", "IssuedGuestLink", "RedeemedGuestLink"]
