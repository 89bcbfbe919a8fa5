"""Settings of the webhooks service (environment variables prefixed ``RAPPORT_WEBHOOKS_``)."""

from __future__ import annotations

import base64
import hashlib
from typing import ClassVar, Final

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from shared.secret_box import MissingSecretsKey, check_secrets_key, operator_key
from shared.settings import ServiceSettings

# Development and test only: a key anyone can derive from this public source, so keys sealed
# with it are not secret. Production refuses to start without its own key.
DEVELOPMENT_SECRETS_KEY: Final = hashlib.sha256(
    b"rapport webhooks: development-only secrets key (public, never for production)"
).digest()

__all__ = ["DEVELOPMENT_SECRETS_KEY", "MissingSecretsKey", "WebhooksSettings"]


# Standard Webhooks' recommended spacing: quick first retries, then hours apart, ~3 days total.
DEFAULT_RETRY_SCHEDULE_SECONDS: list[float] = [
    5,
    300,
    1800,
    7200,
    18000,
    36000,
    50400,
    72000,
    86400,
]


class WebhooksSettings(ServiceSettings):
    """Everything the webhooks service reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_WEBHOOKS_", extra="ignore", populate_by_name=True
    )

    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///./var/webhooks.db"
    # Refuse endpoints on loopback/private/link-local addresses (SSRF) unless an operator opts in,
    # e.g. for local development where the partner's receiver runs on the same machine.
    allow_private_urls: bool = False
    # Hosts or address ranges accepted although private, e.g. ["hooks.internal", "10.1.0.0/16"]
    # (JSON list in the environment).
    allowed_destinations: list[str] = Field(default_factory=list)
    delivery_timeout_seconds: float = Field(15.0, gt=0)
    # Delay before each retry after a failed attempt; when it runs out the delivery has failed.
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE_SECONDS)
    )
    # Each retry delay is varied at random by up to this fraction (spreads out retry storms).
    retry_jitter: float = Field(0.1, ge=0, lt=1)
    # Retry-After (on 429/503) is honoured up to this many seconds.
    max_retry_after_seconds: float = Field(86400.0, ge=0)
    # An endpoint whose every attempt has failed for this long is disabled (5 days).
    disable_failing_endpoint_after_seconds: float = Field(5 * 86400.0, gt=0)
    # After a secret rotation, both secrets sign every attempt for this long.
    secret_rotation_overlap_seconds: float = Field(86400.0, ge=0)
    dispatcher_poll_seconds: float = Field(1.0, gt=0)
    # How many deliveries may be in flight at once, in all and to one endpoint: a slow or dead
    # endpoint holds at most its own share of the slots and never delays the others.
    max_concurrent_deliveries: int = Field(32, ge=1)
    max_concurrent_deliveries_per_endpoint: int = Field(4, ge=1)

    # The AES-256-GCM key that seals endpoints' Ed25519 private keys ("v1a") at rest: base64 of
    # 32 random bytes (e.g. ``openssl rand -base64 32``). Required in production; development
    # and test use DEVELOPMENT_SECRETS_KEY.
    secrets_key: SecretStr | None = None

    public_secret_values: ClassVar[frozenset[str]] = ServiceSettings.public_secret_values | {
        base64.b64encode(DEVELOPMENT_SECRETS_KEY).decode(),
        base64.urlsafe_b64encode(DEVELOPMENT_SECRETS_KEY).decode(),
    }

    _secrets_key_is_32_bytes = field_validator("secrets_key")(check_secrets_key)

    def secrets_key_bytes(self) -> bytes:
        """The key that seals secrets at rest; :class:`MissingSecretsKey` in production
        without one."""
        return operator_key(
            self.secrets_key,
            environment=self.environment,
            variable="RAPPORT_WEBHOOKS_SECRETS_KEY",
            development_key=DEVELOPMENT_SECRETS_KEY,
        )

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _delays_are_not_negative(cls, delays: list[float]) -> list[float]:
        if any(delay < 0 for delay in delays):
            raise ValueError("retry delays must be zero or positive")
        return delays
