"""The signaling service's settings (environment variables prefixed ``RAPPORT_SIGNALING_``)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SignalingSettings(ServiceSettings):
    """Everything signaling reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_SIGNALING_", extra="ignore", populate_by_name=True
    )

    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///./var/signaling.db"
    # docs/contracts.md: identity issues signaling tokens for this audience only.
    signaling_audience: str = "rapport-signaling"
    # A protocol message larger than this closes the socket with 4413.
    max_message_bytes: int = Field(65_536, ge=1_024)
    # The transport's own frame limit. It sits well above max_message_bytes so that an
    # oversized message reaches the app and gets the documented 4413; only frames beyond it
    # are cut off by the WebSocket layer itself (1009).
    transport_max_bytes: int = Field(1_048_576, ge=1_024)
    join_timeout_seconds: float = Field(10.0, gt=0)
    # Per-connection token bucket; messages beyond it get a "too-fast" error, and a client
    # that keeps going past rate_limit_patience refused messages is closed with 4429.
    rate_limit_per_second: float = Field(50.0, gt=0)
    rate_limit_burst: int = Field(100, ge=1)
    rate_limit_patience: int = Field(50, ge=1)

    @model_validator(mode="after")
    def _transport_limit_above_message_limit(self) -> Self:
        if self.transport_max_bytes <= self.max_message_bytes:
            raise ValueError("transport_max_bytes must be larger than max_message_bytes")
        return self
