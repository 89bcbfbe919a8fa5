"""The identity service's settings (environment variables prefixed ``RAPPORT_IDENTITY_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


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
