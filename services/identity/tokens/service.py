"""Signing tokens, refresh token families, and the signing keys behind them.

Nothing here commits: the caller owns the unit of work.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import RefreshFamily, RefreshToken, SigningKey, User
from services.identity.settings import EVENT_SOURCE, IdentitySettings
from services.identity.tokens import repository
from services.identity.tokens.rules import claims, hash_opaque_token, new_opaque_token
from services.identity.tokens.signing_keys import ALGORITHM, Keyring
from shared.db import utc_now
from shared.events.catalog import TokensRevoked
from shared.events.outbox import add_event
from shared.tokens import FAMILY_CLAIM

log = logging.getLogger(__name__)


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
    refresh_idle_seconds: int = 30 * 60
    refresh_absolute_seconds: int = 12 * 3600
    guest_ttl_seconds: int = 900
    guest_link_ttl_seconds: int = 7 * 24 * 3600

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
            guest_ttl_seconds=settings.guest_token_ttl_seconds,
            guest_link_ttl_seconds=settings.guest_link_ttl_seconds,
        )

    @property
    def key_retention(self) -> timedelta:
        """How long a retired key keeps verifying: until every token it signed has expired."""
        longest = max(self.access_ttl_seconds, self.signaling_ttl_seconds, self.guest_ttl_seconds)
        return timedelta(seconds=longest + self.retirement_grace_seconds)


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
class TokenPair:
    """An access token and the refresh token of the same sign-in."""

    access: IssuedToken
    refresh: IssuedRefreshToken


@dataclass(frozen=True)
class RefreshRefused:
    """A refresh that failed. When ``revoked_family`` is set, the refusal revoked that family
    (a reused token), and the caller must commit before answering so the revocation holds."""

    revoked_family: uuid.UUID | None = None
    # Why the family ended when the refusal ended it: "idle_timeout", "absolute_lifetime" or
    # "refresh_reuse"; None for a token that was unknown or already dead.
    ended_because: str | None = None


@dataclass(frozen=True)
class KeyRotation:
    """The key that signs from now on, and the keys it replaced."""

    new_kid: str
    retired_kids: list[str]


class Tokens:
    """Identity's token issuing, built once in the composition root."""

    def __init__(self, *, keyring: Keyring, policy: TokenPolicy):
        self.policy = policy
        # Public because it is also the KeySource that verifies identity's own tokens.
        self.keyring = keyring

    # signing -------------------------------------------------------------------------------

    async def issue(
        self,
        session: AsyncSession,
        *,
        subject: str,
        role: str,
        audience: str | list[str],
        ttl_seconds: int,
        scope: str = "",
        extra_claims: dict[str, Any] | None = None,
    ) -> IssuedToken:
        """Sign a token with the current key."""
        key = await self.ensure_signing_key(session)
        token_id = str(uuid.uuid4())
        payload = claims(
            issuer=self.policy.issuer,
            audience=audience,
            subject=subject,
            role=role,
            scope=scope,
            issued_at=int(time.time()),
            ttl_seconds=ttl_seconds,
            token_id=token_id,
            extra=extra_claims,
        )
        token = jwt.encode(
            payload, self.keyring.signer(key), algorithm=ALGORITHM, headers={"kid": key.kid}
        )
        return IssuedToken(token=token, expires_in=ttl_seconds, token_id=token_id, kid=key.kid)

    async def signaling_token(
        self, session: AsyncSession, user: User, session_id: uuid.UUID, family_id: str | None
    ) -> IssuedToken:
        """A short-lived token for ``user`` to join one session's room."""
        extra: dict[str, Any] = {"sid": str(session_id)}
        if family_id is not None:
            extra[FAMILY_CLAIM] = family_id
        return await self.issue(
            session,
            subject=str(user.id),
            role=user.role,
            audience=self.policy.signaling_audience,
            ttl_seconds=self.policy.signaling_ttl_seconds,
            extra_claims=extra,
        )

    async def guest_token(
        self, session: AsyncSession, *, guest_id: uuid.UUID, session_id: uuid.UUID
    ) -> IssuedToken:
        """A guest's token: role ``guest``, for one session, with no sign-in behind it.

        Both audiences, so that the API refuses it by its role (403: guests see no records)
        rather than as a stranger's token, and signaling lets it into that session's room.
        """
        return await self.issue(
            session,
            subject=str(guest_id),
            role="guest",
            audience=[self.policy.audience, self.policy.signaling_audience],
            ttl_seconds=self.policy.guest_ttl_seconds,
            extra_claims={"sid": str(session_id)},
        )

    # refresh families ----------------------------------------------------------------------

    async def start_family(self, session: AsyncSession, user: User) -> TokenPair:
        """A new sign-in of ``user``: a refresh token family and its first tokens."""
        family = await repository.add_refresh_family(
            session,
            RefreshFamily(
                user_id=user.id,
                expires_at=utc_now() + timedelta(seconds=self.policy.refresh_absolute_seconds),
            ),
        )
        return await self.continue_family(session, user, family)

    async def continue_family(
        self, session: AsyncSession, user: User, family: RefreshFamily
    ) -> TokenPair:
        """A new access token and refresh token for an existing sign-in."""
        return TokenPair(
            access=await self._issue_access(session, user, family),
            refresh=await self._issue_refresh(session, family),
        )

    async def redeem(self, session: AsyncSession, token: str) -> RefreshFamily | RefreshRefused:
        """Use up a refresh token: its family if it may continue.

        Presenting a used token again revokes its whole family (RFC 9700 4.14.2): either the
        holder or a thief has a copy, and we cannot tell which."""
        found = await repository.refresh_token_by_hash(session, hash_opaque_token(token))
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
        # An expired sign-in is ended, not just refused: its revocation reaches the edge and
        # signaling, which close the sign-in's sockets (idle logoff, ASVS 7.3, HIPAA
        # 164.312(a)(2)(iii)). The absolute lifetime wins when both have passed.
        ended = (
            "absolute_lifetime"
            if family.expires_at <= now
            else "idle_timeout"
            if stored.expires_at <= now
            else None
        )
        if ended is not None:
            await self._revoke_family(session, family, reason=ended, at=now)
            log.info("sign-in ended", extra={"family": str(family.id), "reason": ended})
            return RefreshRefused(revoked_family=family.id, ended_because=ended)
        stored.used_at = now
        session.add(stored)
        return family

    async def end_family_of(self, session: AsyncSession, token: str) -> None:
        """Revoke the family of ``token`` (a logout); unknown or revoked tokens change nothing."""
        found = await repository.refresh_token_by_hash(session, hash_opaque_token(token))
        if found is not None and found[1].revoked_at is None:
            await self._revoke_family(session, found[1], reason="logout", at=utc_now())

    async def live_family(
        self, session: AsyncSession, user: User, family_id: uuid.UUID
    ) -> RefreshFamily | None:
        """The user's sign-in with this id if it is not revoked, else None."""
        family = await repository.refresh_family(session, family_id)
        if family is None or family.user_id != user.id or family.revoked_at is not None:
            return None
        return family

    async def revoke_all(
        self, session: AsyncSession, user: User, *, reason: str, at: datetime
    ) -> None:
        """End every sign-in of ``user`` and queue ``TokensRevoked`` for their access tokens."""
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
        return await self.issue(
            session,
            subject=str(user.id),
            role=user.role,
            audience=self.policy.audience,
            ttl_seconds=self.policy.access_ttl_seconds,
            # Names the sign-in, so that its logout can end this token (and the signaling
            # tokens requested with it) and no other device's.
            extra_claims={FAMILY_CLAIM: str(family.id)},
        )

    async def _issue_refresh(
        self, session: AsyncSession, family: RefreshFamily
    ) -> IssuedRefreshToken:
        token = new_opaque_token()
        now = utc_now()
        expires_at = min(
            now + timedelta(seconds=self.policy.refresh_idle_seconds), family.expires_at
        )
        await repository.add_refresh_token(
            session,
            RefreshToken(
                token_hash=hash_opaque_token(token),
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
        keys = await repository.verifying_keys(session, utc_now() - self.policy.key_retention)
        return [dict(key.public_jwk) for key in keys]
