"""The settings base every service extends.

Each service has one settings class with its own prefix (``RAPPORT_IDENTITY_``, ...). A few
values are the same for the whole deployment (where Kafka is, where the JWKS lives, the token
issuer) and are read from un-prefixed ``RAPPORT_*`` variables so an operator sets them once.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import ClassVar, Literal, Self
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.forwarded import TrustedProxies
from shared.service_key import DEVELOPMENT_SERVICE_KEY

# Schemes that carry a browser's credentials in the clear.
_PLAIN_SCHEMES = frozenset({"http", "ws"})


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_plain_origins(urls: Iterable[str], *, variable: str) -> None:
    """Production: ValueError for an ``http://`` or ``ws://`` origin or URL browsers use.

    Loopback hosts pass: browsers treat them as secure contexts (W3C Secure Contexts, "potentially
    trustworthy"), and nothing on the wire leaves the machine (docker-compose on one host)."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in _PLAIN_SCHEMES and not _loopback(parts.hostname or ""):
            raise ValueError(
                f"{variable}: {url!r} is plain {parts.scheme}://; production needs "
                f"{'https' if parts.scheme == 'http' else 'wss'}:// (TLS)"
            )


def deployment_wide(name: str) -> AliasChoices:
    """Read the field from its deployment-wide ``RAPPORT_<NAME>`` variable only.

    (Keyword arguments still work by field name thanks to ``populate_by_name``; listing the
    bare name here would make a generic ``ENVIRONMENT`` or ``LOG_LEVEL`` variable leak in.)
    """
    return AliasChoices(f"RAPPORT_{name.upper()}")


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``env_prefix`` and add their own."""

    model_config = SettingsConfigDict(env_prefix="RAPPORT_", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = Field(
        "development", validation_alias=deployment_wide("environment")
    )
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite+aiosqlite:///./var/service.db"
    kafka_bootstrap: str = Field(
        "127.0.0.1:19092", validation_alias=deployment_wide("kafka_bootstrap")
    )
    jwks_url: str = Field(
        "http://127.0.0.1:8001/.well-known/jwks.json", validation_alias=deployment_wide("jwks_url")
    )
    token_issuer: str = Field("rapport-identity", validation_alias=deployment_wide("token_issuer"))
    token_audience: str = Field("rapport", validation_alias=deployment_wide("token_audience"))
    # Where partners and browsers reach Rapport (the gateway's public base URL): the SMART
    # token endpoint's audience and the FHIR API's links are written under it.
    public_url: str = Field("http://127.0.0.1:8000", validation_alias=deployment_wide("public_url"))
    log_level: str = Field("INFO", validation_alias=deployment_wide("log_level"))
    # One JSON line per HTTP request (method, path without the query string, status, time).
    access_log: bool = True
    # Proxies whose X-Forwarded-For/-Proto are believed (shared/forwarded.py): for a service,
    # the gateway's address. Empty: nobody's, the connection's own address counts.
    trusted_proxies: TrustedProxies = Field(default_factory=list)
    # How many times a consumer retries one event before it goes to the dead-letter topic.
    consumer_max_attempts: int = 3
    # The Kafka consumer group of this service's event consumer; empty: the service's name.
    # Only deployments that share one Kafka cluster set it, each its own (the end-to-end tests
    # run two systems side by side on one broker).
    consumer_group: str = ""
    outbox_batch_size: int = 500
    # How often a service that keeps an audit log chains its newly committed entries (the
    # longest an entry stays unsealed while the service runs; shared.audit_log).
    audit_seal_seconds: float = Field(1.0, gt=0)
    # How long Kafka may stay unreachable before /readyz says not ready: long enough that a
    # broker restart does not take every pod out of service at once (the outbox holds events
    # meanwhile), short enough that a real outage shows.
    kafka_readiness_grace_seconds: float = Field(30.0, ge=0)

    # Secret values anyone can read in this source (development keys). Production refuses a
    # secret setting equal to one: it would be no secret. Subclasses add their own.
    public_secret_values: ClassVar[frozenset[str]] = frozenset({DEVELOPMENT_SERVICE_KEY})

    @model_validator(mode="after")
    def _production_refuses_unsafe_values(self) -> Self:
        if self.environment != "production":
            return self
        refuse_plain_origins([self.public_url], variable="RAPPORT_PUBLIC_URL")
        prefix = str(self.model_config.get("env_prefix", "RAPPORT_"))
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value() in (
                self.public_secret_values
            ):
                raise ValueError(
                    f"{prefix}{name.upper()} is a public development value; production needs "
                    "its own secret"
                )
        return self
