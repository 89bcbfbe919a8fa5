"""The identity service's settings (environment variables prefixed ``RAPPORT_IDENTITY_``)."""

from __future__ import annotations

import base64
import hashlib
from typing import ClassVar, Final

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.secret_box import MissingSecretsKey, check_secrets_key, operator_key
from shared.service_key import check_key_length
from shared.settings import ServiceSettings

# Development and test only: a key anyone can derive from this public source, so secrets
# sealed with it are not secret. Production refuses to start without its own key.
# The CloudEvents source of everything identity publishes.
EVENT_SOURCE: Final = "/rapport/identity"

DEVELOPMENT_SECRETS_KEY: Final = hashlib.sha256(
    b"rapport identity: development-only secrets key (public, never for production)"
).digest()

__all__ = ["DEVELOPMENT_SECRETS_KEY", "EVENT_SOURCE", "IdentitySettings", "MissingSecretsKey"]


class IdentitySettings(ServiceSettings):
    """Everything identity reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_IDENTITY_", extra="ignore", populate_by_name=True
    )

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./var/identity.db"
    # docs/contracts.md caps access tokens at 15 minutes and signaling tokens at 5.
    access_token_ttl_seconds: int = Field(900, ge=30, le=900)
    signaling_token_ttl_seconds: int = Field(300, ge=30, le=300)
    signaling_audience: str = "rapport-signaling"
    # How long a retired key stays in the JWKS beyond the longest token lifetime, so tokens
    # signed just before a rotation still verify on hosts whose clocks run a little behind.
    key_retirement_grace_seconds: int = Field(60, ge=0)

    # Login throttling: attempts per client address (each process's memory), and a temporary
    # lock of an email after this many failures in a row within the lock time (in the
    # database, shared by every process; unknown emails are counted the same way).
    login_attempts_per_minute_per_address: float = Field(30.0, gt=0)
    login_address_burst: int = Field(10, ge=1)
    login_lock_after_failures: int = Field(5, ge=1)
    login_lock_seconds: float = Field(900.0, gt=0)

    # Session lifetimes (OWASP ASVS 5.0 ch. 7, HIPAA 164.312(a)(2)(iii) automatic logoff): a
    # sign-in whose refresh token goes unused for the idle timeout ends, and every sign-in ends
    # at its absolute lifetime however often it is rotated; ending one closes its sockets.
    # Defaults: 30 minutes idle (an unattended clinician's screen), 12 hours (one shift).
    refresh_idle_timeout_seconds: int = Field(30 * 60, ge=60)
    refresh_absolute_lifetime_seconds: int = Field(12 * 3600, ge=60)
    # A password reset link works once, for this long.
    password_reset_ttl_seconds: int = Field(1800, ge=60, le=86400)

    # Partners' JWKS URLs pass the same guard as webhook URLs (shared.destinations): public
    # addresses only unless allowed here (local development), https in production.
    partner_jwks_allow_private_urls: bool = False
    partner_jwks_allowed_destinations: list[str] = Field(default_factory=list)

    # Sign-up rules. Production defaults to both (clinicians wait for an admin, clients join
    # only through an invitation); development and test leave sign-up open unless set.
    clinician_approval_required: bool | None = None
    client_invitation_required: bool | None = None
    invitation_ttl_seconds: int = Field(7 * 24 * 3600, ge=300)
    # A guest's one-time link (an interpreter, a family member) works for this long. The guest
    # token it is exchanged for is short-lived like an access token (a retired signing key
    # verifies as long as the longest token lives): signaling checks it when the guest joins
    # the waiting room, and an open socket stays however long the session runs.
    guest_link_ttl_seconds: int = Field(7 * 24 * 3600, ge=60, le=30 * 24 * 3600)
    guest_token_ttl_seconds: int = Field(900, ge=60, le=900)

    # The AES-256-GCM key that seals TOTP secrets and private signing keys at rest: base64 of
    # 32 random bytes (e.g. ``openssl rand -base64 32``). Required in production; development
    # and test use DEVELOPMENT_SECRETS_KEY.
    secrets_key: SecretStr | None = None
    # The key the notifications service presents on identity's internal API (the same value as
    # its RAPPORT_NOTIFICATIONS_IDENTITY_KEY). Without one, production refuses internal calls;
    # development and test use shared.service_key's public key.
    notifications_key: SecretStr | None = None

    public_secret_values: ClassVar[frozenset[str]] = ServiceSettings.public_secret_values | {
        base64.b64encode(DEVELOPMENT_SECRETS_KEY).decode(),
        base64.urlsafe_b64encode(DEVELOPMENT_SECRETS_KEY).decode(),
    }

    _service_key_is_long_enough = field_validator("notifications_key")(check_key_length)

    _secrets_key_is_32_bytes = field_validator("secrets_key")(check_secrets_key)

    def secrets_key_bytes(self) -> bytes:
        """The key that seals secrets at rest; :class:`MissingSecretsKey` in production
        without one."""
        return operator_key(
            self.secrets_key,
            environment=self.environment,
            variable="RAPPORT_IDENTITY_SECRETS_KEY",
            development_key=DEVELOPMENT_SECRETS_KEY,
        )

    @property
    def token_url(self) -> str:
        """The token endpoint's public URL (client assertions' audience)."""
        return f"{self.public_url.rstrip('/')}/oauth/token"

    @property
    def requires_clinician_approval(self) -> bool:
        if self.clinician_approval_required is None:
            return self.environment == "production"
        return self.clinician_approval_required

    @property
    def requires_client_invitation(self) -> bool:
        if self.client_invitation_required is None:
            return self.environment == "production"
        return self.client_invitation_required
