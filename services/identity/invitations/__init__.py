"""Invitations: a clinician invites a client, who signs up with the invitation."""

from services.identity.invitations.service import Invitations, IssuedInvitation

__all__ = ["Invitations", "IssuedInvitation"]
