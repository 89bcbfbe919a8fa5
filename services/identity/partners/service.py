"""Partner apps: registering them, their client secrets and public keys, clinicians' grants,
and the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4), authenticated with the
secret or, for SMART backend services, with a signed client assertion (RFC 7523).

Nothing here commits: the caller owns the unit of work.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.accounts import clean_display_name
from services.identity.errors import (
    InvalidPartnerKeys,
    OAuthError,
    PartnerAppNotFound,
    UnknownScope,
)
from services.identity.models import PartnerApp
from services.identity.partners import assertions, repository
from services.identity.partners.assertions import PartnerKey
from services.identity.partners.keys import InvalidJwks, JwksFetcher, parse_jwks
from services.identity.settings import EVENT_SOURCE
from services.identity.tokens import IssuedToken, Tokens, hash_opaque_token, new_opaque_token
from shared.db import utc_now
from shared.destinations import DestinationRefused
from shared.events.catalog import (
    PartnerAccessGranted,
    PartnerAccessRevoked,
    PartnerRegistered,
    PartnerSecretRotated,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope, UnknownSmartScope, is_smart_scope, smart_scope_grants
from shared.tokens import Principal


@dataclass(frozen=True)
class PartnerCredentials:
    """A partner app's client id and secret; the secret is shown this once."""

    app: PartnerApp
    client_secret: str


@dataclass(frozen=True)
class GrantedScopes:
    """What a token request was granted: the scopes as the client wrote them (SMART or
    partner scopes, answered back), and the partner scopes the token carries."""

    requested: list[str]
    partner_scopes: list[str]


class Partners:
    """Partner app use cases, built once in the composition root."""

    def __init__(self, *, tokens: Tokens, jwks: JwksFetcher, token_url: str):
        self._tokens = tokens
        self._jwks = jwks
        self.token_url = token_url

    async def register_partner(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        name: str,
        scopes: list[str],
        jwks: Mapping[str, Any] | None = None,
        jwks_url: str | None = None,
    ) -> PartnerCredentials:
        """An admin registers a partner app; the secret is returned once, stored hashed.

        With ``jwks`` or ``jwks_url`` the app may also authenticate as a SMART backend service.
        """
        principal.require_role("admin")
        unknown = sorted(set(scopes) - set(PartnerScope))
        if unknown or not scopes:
            raise UnknownScope(f"scopes: choose from {', '.join(PartnerScope)}")
        await self._check_keys(jwks, jwks_url)
        secret = new_opaque_token()
        app = await repository.add_partner_app(
            session,
            PartnerApp(
                client_id=f"pa_{secrets.token_hex(12)}",
                name=clean_display_name(name),
                secret_hash=hash_opaque_token(secret),
                scopes=sorted(set(scopes)),
                created_by=principal.user_id,
                jwks=dict(jwks) if jwks is not None else None,
                jwks_url=jwks_url,
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

    async def set_partner_keys(
        self,
        session: AsyncSession,
        principal: Principal,
        client_id: str,
        *,
        jwks: Mapping[str, Any] | None,
        jwks_url: str | None,
    ) -> PartnerApp:
        """Replace the app's public keys (admin): a JWKS, a JWKS URL, or neither (the app then
        authenticates with its secret only). Assertions signed with dropped keys stop working."""
        principal.require_role("admin")
        app = await self._existing(session, client_id)
        await self._check_keys(jwks, jwks_url)
        app.jwks = dict(jwks) if jwks is not None else None
        app.jwks_url = jwks_url
        session.add(app)
        return app

    async def _check_keys(self, jwks: Mapping[str, Any] | None, jwks_url: str | None) -> None:
        if jwks is not None and jwks_url is not None:
            raise InvalidPartnerKeys("give jwks or jwks_url, not both")
        try:
            if jwks is not None:
                parse_jwks(jwks)
            if jwks_url is not None:
                await self._jwks.check(jwks_url)
        except InvalidJwks as exc:
            raise InvalidPartnerKeys(f"jwks: {exc}") from exc
        except DestinationRefused as exc:
            raise InvalidPartnerKeys(f"jwks_url: {exc.detail}") from exc

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
        return await self._issue(session, app, scope)

    async def client_assertion(
        self, session: AsyncSession, *, assertion: str, client_id: str | None, scope: str | None
    ) -> tuple[IssuedToken, list[str]]:
        """SMART backend services: an access token for the app whose signed assertion
        (``private_key_jwt``, RS384 or ES384) this is, the same as :meth:`client_credentials`
        gives. Each assertion works once: its ``jti`` is kept until it expires.
        """
        try:
            header = assertions.read_header(assertion)
            if client_id is not None and client_id != header.client_id:
                raise assertions.InvalidAssertion("client_id differs from the assertion's iss")
            app = await repository.partner_app(session, header.client_id)
            if app is None or not app.is_active:
                raise assertions.InvalidAssertion("unknown client")
            keys = await self._partner_keys(app, header.kid)
            verified = assertions.verify(
                assertion, header, keys, token_url=self.token_url, now=int(time.time())
            )
        except assertions.InvalidAssertion as exc:
            raise OAuthError("invalid_client", str(exc), status_code=401) from exc
        kept_until = datetime.fromtimestamp(verified.expires_at + assertions.LEEWAY_SECONDS, tz=UTC)
        if not await repository.use_assertion_id(
            session, app.client_id, verified.jti, kept_until, utc_now()
        ):
            raise OAuthError(
                "invalid_client", "client_assertion's jti was used before", status_code=401
            )
        return await self._issue(session, app, scope)

    async def _partner_keys(self, app: PartnerApp, kid: str) -> dict[str, PartnerKey]:
        try:
            if app.jwks is not None:
                return parse_jwks(app.jwks)
            if app.jwks_url is not None:
                return await self._jwks.keys(app.jwks_url, kid=kid)
        except InvalidJwks as exc:
            raise assertions.InvalidAssertion(f"the client's keys are unusable: {exc}") from exc
        raise assertions.InvalidAssertion("this client has registered no public keys")

    async def _issue(
        self, session: AsyncSession, app: PartnerApp, scope: str | None
    ) -> tuple[IssuedToken, list[str]]:
        granted = grant_scopes(app, scope)
        clinicians = await repository.granting_clinicians(session, app.client_id)
        issued = await self._tokens.issue(
            session,
            subject=app.client_id,
            role="partner",
            audience=self._tokens.policy.audience,
            ttl_seconds=self._tokens.policy.access_ttl_seconds,
            scope=" ".join(granted.partner_scopes),
            extra_claims={"clinicians": [str(c) for c in clinicians]},
        )
        return issued, granted.requested

    async def _existing(self, session: AsyncSession, client_id: str) -> PartnerApp:
        app = await repository.partner_app(session, client_id)
        if app is None:
            raise PartnerAppNotFound()
        return app


def grant_scopes(app: PartnerApp, scope: str | None) -> GrantedScopes:
    """The scopes a token request gets: each requested one must be within the app's.

    Partner scopes (``goals:read``) and SMART system scopes (``system/Goal.rs``) may be mixed;
    a SMART scope needs every partner scope it maps to (shared.scopes), except that a wildcard
    type (``system/*.rs``) is granted over the types the app may read. No scope: everything the
    app was registered with.
    """
    registered = set(app.scopes)
    if not scope:
        return GrantedScopes(requested=list(app.scopes), partner_scopes=list(app.scopes))
    requested = sorted(set(scope.split()))
    carried: set[str] = set()
    for entry in requested:
        if not is_smart_scope(entry):
            needed = {entry}
        else:
            try:
                needed = set(smart_scope_grants(entry))
            except UnknownSmartScope as exc:
                raise OAuthError("invalid_scope", str(exc)) from exc
            if entry.startswith("system/*."):
                needed &= registered
                if not needed:
                    raise OAuthError("invalid_scope", f"{entry} grants nothing to this client")
        if not needed <= registered:
            raise OAuthError("invalid_scope", "a requested scope is not granted to this client")
        carried |= needed
    return GrantedScopes(requested=requested, partner_scopes=sorted(carried))
