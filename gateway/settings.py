"""The gateway's settings: where the upstream services are, and how the edge behaves."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Settings read from ``RAPPORT_GATEWAY_*`` (plus the deployment-wide ``RAPPORT_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_GATEWAY_", extra="ignore", populate_by_name=True
    )

    port: int = 8000

    identity_url: str = "http://127.0.0.1:8001"
    records_url: str = "http://127.0.0.1:8002"
    # A list so that several signaling processes can share the rooms later (consistent hashing
    # by session id); a room must live in exactly one process. Comma-separated in the environment.
    signaling_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8003"],
        validation_alias=AliasChoices(
            "signaling_urls",
            "RAPPORT_GATEWAY_SIGNALING_URLS",
            "RAPPORT_GATEWAY_SIGNALING_URL",
        ),
    )
    webhooks_url: str = "http://127.0.0.1:8004"

    # Upstream timeouts, in seconds: nothing waits on a dead service for long.
    upstream_connect_timeout: float = 2.0
    upstream_read_timeout: float = 30.0
    upstream_pool_timeout: float = 2.0
    upstream_max_connections: int = 512
    readiness_timeout: float = 1.0

    # Login: a token bucket per client address.
    login_rate_per_minute: float = 10.0
    login_burst: int = 10

    # Revocations from identity's events (deactivation, role change, refresh-token reuse):
    # read back this far on start, i.e. the longest access-token lifetime plus a margin.
    revocations_enabled: bool = True
    revocation_lookback_seconds: float = Field(960.0, gt=0)

    # Strict-Transport-Security is only sent when set; only turn it on behind TLS.
    hsts_max_age_seconds: int | None = None

    # Addresses whose X-Forwarded-For / X-Forwarded-Proto uvicorn trusts (a load balancer in
    # front of the gateway); everyone else's are replaced with what the gateway sees.
    forwarded_allow_ips: str = "127.0.0.1"
    websocket_max_message_bytes: int = 1024 * 1024
    # One JSON access-log line costs about half of what proxying a request does; the edge's
    # metrics cover the traffic, so turn this on for debugging rather than by default.
    access_log: bool = False

    @field_validator("signaling_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("signaling_urls")
    @classmethod
    def _at_least_one(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one signaling URL is needed")
        return value
