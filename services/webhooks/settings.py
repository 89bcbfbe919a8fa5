"""Settings of the webhooks service (environment variables prefixed ``RAPPORT_WEBHOOKS_``)."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings

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
    delivery_timeout_seconds: float = Field(15.0, gt=0)
    # Delay before each retry after a failed attempt; when it runs out the delivery has failed.
    retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: list(DEFAULT_RETRY_SCHEDULE_SECONDS)
    )
    dispatcher_poll_seconds: float = Field(1.0, gt=0)
    # How many deliveries may be in flight at once, so a slow endpoint cannot hold up others.
    max_concurrent_deliveries: int = Field(32, ge=1)

    @field_validator("retry_schedule_seconds")
    @classmethod
    def _delays_are_not_negative(cls, delays: list[float]) -> list[float]:
        if any(delay < 0 for delay in delays):
            raise ValueError("retry delays must be zero or positive")
        return delays
