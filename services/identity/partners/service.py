"""Partner apps: registering them, their client secrets, clinicians' grants, and the OAuth 2.0
client-credentials grant (RFC 6749 section 4.4).

Nothing here commits: the caller owns the unit of work.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.accounts import clean_display_name
from services.identity.errors import OAuthError, PartnerAppNotFound, UnknownScope
from services.identity.models import PartnerApp
from services.identity.partners import repository
from services.identity.settings import EVENT_SOURCE
from services.identity.tokens import IssuedToken, Tokens, hash_opaque_token, new_opaque_token
from shared.db import utc_now
from shared.events.catalog import (
    PartnerAccessGranted,
    PartnerAccessRevoked,
    PartnerRegistered,
    PartnerSecretRotated,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope
from shared.tokens import Principal


@dataclass(frozen=True)
class PartnerCredentials:
    """A partner app's client id and secret; the secret is shown this once."""

    app: PartnerApp
    client_secret: str


class Partners:
    """Partner app use cases, built once in the composition root."""

    def __init__(self, *, tokens: Tokens):
        self._tokens = tokens

    async def register_partner(
        self, session: AsyncSession, principal: Principal, *, name: str, scopes: list[str]
    ) -> PartnerCredentials:
        """An admin registers a partner app; the secret is returned once, stored hashed."""
        principal.require_role("admin")
        unknown = sorted(set(scopes) - set(PartnerScope))
        if unknown or not scopes:
            raise UnknownScope(f"scopes: choose from {', '.join(PartnerScope)}")
        secret = new_opaque_token()
        app = await repository.add_partner_app(
            session,
            PartnerApp(
                client_id=f"pa_{secrets.token_hex(12)}",
                name=clean_display_name(name),
                secret_hash=hash_opaque_token(secret),
                scopes=sorted(set(scopes)),
                created_by=principal.user_id,
            ),
        )
        add_event(
            session,
            PartnerRegistered(
                client_id=app.client_id, scopes=app.scopes, registered_at=app.created_at
            ),
            source=EVENT_SOURCE,
        )
        return PartnerCredentials(app=app, client_secret=secret)

    async def rotate_partner_secret(
        self, session: AsyncSession, principal: Principal, client_id: str
    ) -> PartnerCredentials:
        """A new secret for the partner app; the old one stops working at once."""
        principal.require_role("admin")
        app = await self._existing(session, client_id)
        secret = new_opaque_token()
        app.secret_hash = hash_opaque_token(secret)
        app.secret_rotated_at = utc_now()
        session.add(app)
        add_event(
            session,
            PartnerSecretRotated(client_id=app.client_id, rotated_at=app.secret_rotated_at),
            source=EVENT_SOURCE,
        )
        return PartnerCredentials(app=app, client_secret=secret)

    async def grant_partner(
        self, session: AsyncSession, principal: Principal, client_id: str
    ) -> None:
        """A clinician lets a partner app act on their own practice's data."""
        principal.require_role("clinician")
        await self._existing(session, client_id)
        await repository.grant_partner(session, client_id, principal.user_id)
        # Other services (webhooks) limit the partner to these clinicians from this event.
        add_event(
            session,
            PartnerAccessGranted(
                client_id=client_id, clinician_id=principal.user_id, granted_at=utc_now()
            ),
            source=EVENT_SOURCE,
        )

    async def revoke_partner_grant(
        self, session: AsyncSession, principal: Principal, client_id: str
    ) -> None:
        """A clinician withdraws a partner app's access to their practice's data.

        New tokens of the app no longer name the clinician; ``partner.access_revoked`` tells
        other services (webhooks stops delivering the clinician's events to the app). Tokens
        already issued keep their ``clinicians`` claim until they expire (at most the access
        token lifetime). Revoking a grant that does not exist changes nothing.
        """
        principal.require_role("clinician")
        await self._existing(session, client_id)
        if await repository.revoke_partner_grant(session, client_id, principal.user_id):
            add_event(
                session,
                PartnerAccessRevoked(
                    client_id=client_id, clinician_id=principal.user_id, revoked_at=utc_now()
                ),
                source=EVENT_SOURCE,
            )

    async def client_credentials(
        self, session: AsyncSession, *, client_id: str, client_secret: str, scope: str | None
    ) -> tuple[IssuedToken, list[str]]:
        """RFC 6749 section 4.4: an access token for the partner app itself.

        ``sub`` is the client id (never a user id), ``role`` is ``partner``, ``scope`` what was
        asked for (default: everything registered), and ``clinicians`` the clinicians who
        granted access: services limit a partner to their data.
        """
        app = await repository.partner_app(session, client_id)
        expected = app.secret_hash if app is not None else hash_opaque_token("")
        matches = hmac.compare_digest(expected, hash_opaque_token(client_secret))
        if app is None or not matches or not app.is_active:
            raise OAuthError("invalid_client", "client authentication failed", status_code=401)
        requested = sorted(set(scope.split())) if scope else list(app.scopes)
        if not set(requested) <= set(app.scopes):
            raise OAuthError("invalid_scope", "a requested scope is not granted to this client")
        clinicians = await repository.granting_clinicians(session, client_id)
        issued = await self._tokens.issue(
            session,
            subject=client_id,
            role="partner",
            audience=self._tokens.policy.audience,
            ttl_seconds=self._tokens.policy.access_ttl_seconds,
            scope=" ".join(requested),
            extra_claims={"clinicians": [str(c) for c in clinicians]},
        )
        return issued, requested

    async def _existing(self, session: AsyncSession, client_id: str) -> PartnerApp:
        app = await repository.partner_app(session, client_id)
        if app is None:
            raise PartnerAppNotFound()
        return app
