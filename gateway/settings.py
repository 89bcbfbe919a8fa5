"""The gateway's settings: where the upstream services are, and how the edge behaves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from gateway.pages import default_web_root
from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Settings read from ``RAPPORT_GATEWAY_*`` (plus the deployment-wide ``RAPPORT_*``)."""

    model_config = SettingsConfigDict(
        env_prefix="RAPPORT_GATEWAY_", extra="ignore", populate_by_name=True
    )

    port: int = 8000

    identity_url: str = "http://127.0.0.1:8001"
    records_url: str = "http://127.0.0.1:8002"
    # Signaling processes to route to while no room owner is known (development, one
    # process; see signaling_owners): by rendezvous hashing of the session id. May be empty
    # with signaling_owners. Comma-separated in the environment.
    signaling_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://127.0.0.1:8003"],
        validation_alias=AliasChoices(
            "signaling_urls",
            "RAPPORT_GATEWAY_SIGNALING_URLS",
            "RAPPORT_GATEWAY_SIGNALING_URL",
        ),
    )
    webhooks_url: str = "http://127.0.0.1:8004"
    notifications_url: str = "http://127.0.0.1:8005"
    # Route each signaling WebSocket to the process that owns its room, as signaling's
    # processes publish it on Kafka (rapport.signaling.owners); the list above is then only
    # the fallback while no owner is known, and may be empty (production).
    signaling_owners: bool = True
    signaling_owners_topic: str = "rapport.signaling.owners"
    # How long a signaling WebSocket handshake waits for its room's owner to become known or,
    # after a failed connect, to change (a failover: the group's session timeout, 6 s, and a
    # rebalance), before the client gets 503 with Retry-After; within the handshake budget.
    signaling_owner_wait_seconds: float = Field(8.0, ge=0)
    # The longest a client's WebSocket handshake is held while the gateway finds and connects
    # to signaling; then 503 with Retry-After. Below 10 s: uvicorn's websockets protocol drops
    # a handshake still unanswered after 10 s without any answer (websockets' open_timeout).
    websocket_handshake_seconds: float = Field(8.0, gt=0, lt=10.0)

    # Upstream timeouts, in seconds: nothing waits on a dead service for long.
    upstream_connect_timeout: float = 2.0
    upstream_read_timeout: float = 30.0
    upstream_pool_timeout: float = 2.0
    upstream_max_connections: int = 512
    readiness_timeout: float = 1.0

    # Login: a token bucket per client address.
    login_rate_per_minute: float = 10.0
    login_burst: int = 10
    # Every request with an access token: a token bucket per token subject (user or partner
    # app), generous enough for a dashboard loading a page at once; 0 turns it off.
    principal_rate_per_minute: float = Field(1200.0, ge=0)
    principal_burst: int = Field(200, ge=1)
    # At most this many buckets per limiter; idle ones are dropped well before that.
    rate_limit_max_keys: int = Field(100_000, ge=1)

    # Revocations from identity's events (deactivation, role change, refresh-token reuse):
    # read back this far on start, i.e. the longest access-token lifetime plus a margin.
    revocations_enabled: bool = True
    revocation_lookback_seconds: float = Field(960.0, gt=0)

    # Strict-Transport-Security on responses served over TLS (the server's own, or https as a
    # trusted proxy reports it in X-Forwarded-Proto); never over plain HTTP. 0 turns it off.
    hsts_max_age_seconds: int = Field(31_536_000, ge=0)

    # CORS for partner web apps on other origins (comma-separated, e.g.
    # "https://ehr.example.org"; "*" for any, never with credentials). Empty (the default):
    # none, which is all the pages the gateway serves itself need.
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    cors_allow_credentials: bool = False
    cors_max_age_seconds: int = Field(600, ge=0)
    websocket_max_message_bytes: int = 1024 * 1024
    # Keep-alive on the client's hop (signaling pings the gateway's own hop): a ping every
    # interval; no pong within the timeout closes the client with 1011 and signaling sees the
    # member drop. As signaling's own (RAPPORT_SIGNALING_PING_*). A pong queues behind the
    # client's messages the relay has not taken yet, so a client held back by a slow
    # signaling, or starved of CPU itself, can miss it: raise the timeout on such a host.
    websocket_ping_interval_seconds: float = Field(20.0, gt=0)
    websocket_ping_timeout_seconds: float = Field(20.0, gt=0)
    # One JSON access-log line costs about half of what proxying a request does; the edge's
    # metrics cover the traffic, so turn this on for debugging rather than by default.
    access_log: bool = False
    # trusted_proxies (from ServiceSettings): a load balancer in front of the gateway, if any.
    # The web app: pages from <web_root>/public, chart libraries from <web_root>/node_modules.
    web_root: Path = Field(default_factory=default_web_root)

    @field_validator("signaling_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _signaling_somewhere(self) -> GatewaySettings:
        if not self.signaling_urls and not self.signaling_owners:
            raise ValueError("at least one signaling URL is needed without signaling_owners")
        return self

    @model_validator(mode="after")
    def _owner_wait_within_the_handshake(self) -> GatewaySettings:
        if self.signaling_owner_wait_seconds > self.websocket_handshake_seconds:
            raise ValueError(
                "signaling_owner_wait_seconds cannot exceed websocket_handshake_seconds: the "
                "handshake is answered 503 once its budget is spent"
            )
        return self

    @field_validator("cors_allow_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins_only(cls, value: list[str]) -> list[str]:
        return [check_origin(origin) for origin in value]

    @model_validator(mode="after")
    def _no_credentials_for_everyone(self) -> GatewaySettings:
        if self.cors_allow_credentials and "*" in self.cors_allow_origins:
            raise ValueError("CORS credentials cannot be allowed for every origin ('*')")
        return self


def check_origin(origin: str) -> str:
    """``origin`` as a browser sends it (scheme://host[:port], lower-case), or ValueError."""
    if origin == "*":
        return origin
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
    return origin.lower()
