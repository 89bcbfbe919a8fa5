"""Refusing revoked tokens at the edge: identity's revocation events, applied to the verifier.

Every gateway process follows every revocation (``shared.events.revocations``); a revoked
user's tokens issued before the revocation (or a signed-out sign-in's tokens) are refused from
then on, even while still valid.
"""

from __future__ import annotations

from shared.events.revocations import Revocation, RevocationFollower
from shared.tokens import TokenVerifier


def revocation_follower(
    verifier: TokenVerifier, *, bootstrap_servers: str, lookback_seconds: float
) -> RevocationFollower:
    """A follower that makes ``verifier`` refuse each revoked user's older tokens."""

    async def revoke(revocation: Revocation) -> None:
        revocation.apply_to(verifier)

    return RevocationFollower(
        revoke,
        client_id="gateway-revocations",
        bootstrap_servers=bootstrap_servers,
        lookback_seconds=lookback_seconds,
    )
