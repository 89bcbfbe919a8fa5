"""The composition root: everything identity needs, wired once per app."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from services.identity import api, events, internal_api
from services.identity.accounts import Accounts, SignupPolicy
from services.identity.errors import OAuthError
from services.identity.guests import Guests
from services.identity.invitations import Invitations
from services.identity.models import DirectoryAuditEntry
from services.identity.partners import JwksFetcher, Partners
from services.identity.passwords import PasswordHashing
from services.identity.secret_box import SecretBox
from services.identity.settings import IdentitySettings
from services.identity.sign_in import (
    AccountLocks,
    AddressThrottle,
    LoginThrottle,
    ResetDelivery,
    SignIn,
)
from services.identity.tokens import Keyring, TokenPolicy, Tokens
from shared.audit_log import AuditSealer
from shared.db import Database
from shared.destinations import DestinationPolicy
from shared.service_app import BackgroundTasks, add_event_pipeline, build_service_app
from shared.service_key import service_key
from shared.tokens import KeySource, TokenVerifier

log = logging.getLogger(__name__)

SERVICE_NAME = "identity"


@dataclass(frozen=True)
class Identity:
    """Identity's sub-domains, wired to one another once."""

    accounts: Accounts
    sign_in: SignIn
    tokens: Tokens
    partners: Partners
    invitations: Invitations
    guests: Guests


def build_identity(
    *,
    passwords: PasswordHashing,
    keyring: Keyring,
    policy: TokenPolicy,
    throttle: LoginThrottle | None = None,
    resets: ResetDelivery | None = None,
    signup: SignupPolicy | None = None,
    partner_keys: JwksFetcher | None = None,
    token_url: str = "http://127.0.0.1:8000/oauth/token",  # noqa: S107  (a URL, not a secret)
) -> Identity:
    """The sub-domains over these components (tests pass their own)."""
    signup = signup or SignupPolicy()
    tokens = Tokens(keyring=keyring, policy=policy)
    invitations = Invitations(box=keyring.box, ttl_seconds=signup.invitation_ttl_seconds)
    accounts = Accounts(passwords=passwords, tokens=tokens, invitations=invitations, signup=signup)
    return Identity(
        accounts=accounts,
        sign_in=SignIn(
            passwords=passwords,
            accounts=accounts,
            tokens=tokens,
            box=keyring.box,
            throttle=throttle,
            resets=resets,
        ),
        tokens=tokens,
        partners=Partners(
            tokens=tokens,
            jwks=partner_keys or JwksFetcher(DestinationPolicy()),
            token_url=token_url,
        ),
        invitations=invitations,
        guests=Guests(tokens=tokens),
    )


def partner_keys_fetcher(settings: IdentitySettings) -> JwksFetcher:
    """Fetches partners' JWKS URLs under the deployment's SSRF rules."""
    return JwksFetcher(
        DestinationPolicy(
            allow_private=settings.partner_jwks_allow_private_urls,
            require_https=settings.environment == "production",
            allowed=tuple(settings.partner_jwks_allowed_destinations),
        )
    )


def build_identity_service(
    settings: IdentitySettings,
    database: Database,
    *,
    resets: ResetDelivery | None = None,
    partner_keys: JwksFetcher | None = None,
) -> Identity:
    """The use cases over ``database`` (also what the CLI uses, without an HTTP app)."""
    policy = TokenPolicy.from_settings(settings)
    return build_identity(
        passwords=PasswordHashing(),
        keyring=Keyring(
            database,
            retention=policy.key_retention,
            box=SecretBox(settings.secrets_key_bytes()),
        ),
        policy=policy,
        throttle=LoginThrottle(
            addresses=AddressThrottle(
                attempts_per_minute_per_address=settings.login_attempts_per_minute_per_address,
                address_burst=settings.login_address_burst,
            ),
            accounts=AccountLocks(
                database,
                lock_after_failures=settings.login_lock_after_failures,
                lock_seconds=settings.login_lock_seconds,
            ),
        ),
        resets=resets,
        signup=SignupPolicy.from_settings(settings),
        partner_keys=partner_keys or partner_keys_fetcher(settings),
        token_url=settings.token_url,
    )


def create_app(
    settings: IdentitySettings,
    *,
    key_source: KeySource | None = None,
    resets: ResetDelivery | None = None,
) -> FastAPI:
    """Identity's FastAPI app.

    ``key_source`` defaults to identity's own keyring, read from its database (identity never
    fetches its own JWKS over HTTP); tests may pass another source to trust other keys.
    """
    database = Database(settings.database_url)
    partner_keys = partner_keys_fetcher(settings)
    identity = build_identity_service(settings, database, resets=resets, partner_keys=partner_keys)
    verifier = TokenVerifier(
        key_source or identity.tokens.keyring,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )

    background = BackgroundTasks()
    background.on_shutdown(database.dispose)
    background.on_shutdown(partner_keys.aclose)
    background.on_startup(partial(_ensure_signing_key, database, identity))
    add_event_pipeline(
        background,
        service=SERVICE_NAME,
        settings=settings,
        database=database,
        router=events.build_router(),
    )

    app = build_service_app(
        name=SERVICE_NAME,
        settings=settings,
        background=background,
        checks={"database": database.ping},
        description="Accounts, credentials, signing keys, token issuing and the JWKS.",
    )
    app.state.database = database
    sealer = AuditSealer(
        database,
        DirectoryAuditEntry,
        app.state.metrics.registry,
        poll_seconds=settings.audit_seal_seconds,
    )
    background.add("audit-sealer", sealer.run, stop=sealer.stop)
    app.state.audit_sealer = sealer
    app.state.token_verifier = verifier
    app.state.identity = identity
    app.state.notifications_service_key = service_key(
        settings.notifications_key, settings.environment
    )
    app.include_router(api.router)
    app.include_router(internal_api.router)
    app.add_exception_handler(OAuthError, _oauth_error)

    return app


async def _oauth_error(_: Request, exc: Exception) -> JSONResponse:
    # RFC 6749 section 5.2: the protocol's own error body, never cached.
    assert isinstance(exc, OAuthError)
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = 'Basic realm="rapport"'
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description},
        status_code=exc.status_code,
        headers=headers,
    )


async def _ensure_signing_key(database: Database, identity: Identity) -> None:
    # Have a key before the first JWKS request. If the database is not there yet (or not
    # migrated), start anyway: /readyz says so, and the first login creates the key.
    try:
        async with database.unit_of_work() as session:
            await identity.tokens.ensure_signing_key(session)
    except SQLAlchemyError as exc:
        log.warning("no signing key ensured at startup: %s", type(exc).__name__)
