"""The composition root: everything identity needs, wired once per app."""

from __future__ import annotations

import logging
from functools import partial

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from services.identity import api, events
from services.identity.errors import OAuthError
from services.identity.login_throttle import AccountLocks, AddressThrottle, LoginThrottle
from services.identity.models import DirectoryAuditEntry
from services.identity.passwords import PasswordHashing
from services.identity.reset_delivery import ResetDelivery
from services.identity.secret_box import SecretBox
from services.identity.service import IdentityService, SignupPolicy, TokenPolicy
from services.identity.settings import IdentitySettings
from services.identity.signing_keys import Keyring
from shared.audit_log import AuditSealer
from shared.db import Database
from shared.service_app import BackgroundTasks, add_event_pipeline, build_service_app
from shared.tokens import KeySource, TokenVerifier

log = logging.getLogger(__name__)

SERVICE_NAME = "identity"


def build_identity_service(
    settings: IdentitySettings, database: Database, *, resets: ResetDelivery | None = None
) -> IdentityService:
    """The use cases over ``database`` (also what the CLI uses, without an HTTP app)."""
    policy = TokenPolicy.from_settings(settings)
    return IdentityService(
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
    identity = build_identity_service(settings, database, resets=resets)
    verifier = TokenVerifier(
        key_source or identity.keyring,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )

    background = BackgroundTasks()
    background.on_shutdown(database.dispose)
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
    app.include_router(api.router)
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


async def _ensure_signing_key(database: Database, identity: IdentityService) -> None:
    # Have a key before the first JWKS request. If the database is not there yet (or not
    # migrated), start anyway: /readyz says so, and the first login creates the key.
    try:
        async with database.unit_of_work() as session:
            await identity.ensure_signing_key(session)
    except SQLAlchemyError as exc:
        log.warning("no signing key ensured at startup: %s", type(exc).__name__)
