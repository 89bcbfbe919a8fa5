"""Request and response bodies of the webhooks API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from services.webhooks.models import Delivery, DeliveryAttempt, SignatureScheme, WebhookEndpoint
from shared.time_formats import IsoDateTime

# A catalog type or a pattern: never blank.
EventTypePattern = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]


class WebhookEndpointCreate(BaseModel):
    """Register a URL for some event types."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2048, examples=["https://partner.example/hooks"])
    event_types: list[EventTypePattern] = Field(
        min_length=1,
        max_length=50,
        examples=[["rapport.records.session.completed.v1", "appointment.*"]],
        description="Full catalog types, or patterns matched against the full type or the "
        "short name (e.g. 'session.*', '*').",
    )
    description: str = Field("", max_length=500)
    signature_schemes: list[SignatureScheme] = Field(
        default_factory=lambda: [SignatureScheme.SYMMETRIC],
        min_length=1,
        max_length=2,
        description="Which Standard Webhooks signatures each message carries: 'v1' (HMAC-SHA256 "
        "with the secret), 'v1a' (Ed25519; verify with the endpoint's public_key), or both.",
    )


class WebhookEndpointUpdate(BaseModel):
    """Change any of an endpoint's URL, event types and description."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, min_length=1, max_length=2048)
    event_types: list[EventTypePattern] | None = Field(None, min_length=1, max_length=50)
    description: str | None = Field(None, max_length=500)
    signature_schemes: list[SignatureScheme] | None = Field(None, min_length=1, max_length=2)


class WebhookEndpointView(BaseModel):
    """An endpoint as its owner sees it (the secret is shown only once, at creation)."""

    id: uuid.UUID
    url: str
    event_types: list[str]
    description: str
    created_at: datetime
    enabled: bool
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None = Field(
        description="Until then, attempts are also signed with the secret before the last rotation."
    )
    signature_schemes: list[str]
    public_key: str | None = Field(
        description="whpk_-prefixed Ed25519 public key that verifies 'v1a' signatures "
        "(null unless 'v1a' was ever offered)."
    )
    previous_public_key: str | None = Field(
        description="The public key before the last signing key rotation; until "
        "previous_public_key_expires_at attempts also carry a 'v1a' signature made with it."
    )
    previous_public_key_expires_at: datetime | None

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointView:
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            event_types=endpoint.event_types,
            description=endpoint.description,
            created_at=endpoint.created_at,
            enabled=endpoint.disabled_at is None,
            disabled_at=endpoint.disabled_at,
            disabled_reason=endpoint.disabled_reason,
            failing_since=endpoint.failing_since,
            previous_secret_expires_at=endpoint.previous_secret_expires_at,
            signature_schemes=endpoint.signature_schemes,
            public_key=endpoint.public_key,
            previous_public_key=endpoint.previous_public_key,
            previous_public_key_expires_at=endpoint.previous_signing_key_expires_at,
        )


class WebhookEndpointCreated(WebhookEndpointView):
    """The answer to registration: the endpoint plus its signing secret, shown this once."""

    secret: str = Field(description="whsec_-prefixed Standard Webhooks signing secret")

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointCreated:
        return cls(**WebhookEndpointView.of(endpoint).model_dump(), secret=endpoint.secret)


class DeliveryAttemptView(BaseModel):
    """One attempt: the endpoint's status code, or the error that prevented an answer."""

    attempt_number: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> DeliveryAttemptView:
        return cls(
            attempt_number=attempt.attempt_number,
            at=attempt.attempted_at,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
        )


class DeliveryView(BaseModel):
    """A delivery (its id is the webhook-id header) with every attempt made."""

    id: str
    event_id: str
    event_type: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]
    attempts: list[DeliveryAttemptView]

    @classmethod
    def of(cls, delivery: Delivery, attempts: list[DeliveryAttempt]) -> DeliveryView:
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempt_count=delivery.attempt_count,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            delivered_at=delivery.delivered_at,
            payload=delivery.payload,
            attempts=[DeliveryAttemptView.of(a) for a in attempts],
        )


class ReplayRequest(BaseModel):
    """Replay every failed message created since a time."""

    model_config = ConfigDict(extra="forbid")

    since: IsoDateTime


class ReplayResult(BaseModel):
    """The webhook-ids queued to be sent again."""

    replayed: list[str]


class WebhookMessage(BaseModel):
    """A message as it was (or is being) sent to the endpoint: its webhook-id and the exact
    body, with its place in its aggregate's sequence."""

    webhook_id: str
    aggregate_id: str
    sequence: int
    status: str
    created_at: datetime
    body: dict[str, Any]

    @classmethod
    def of(cls, delivery: Delivery) -> WebhookMessage:
        return cls(
            webhook_id=delivery.id,
            # Only messages in a sequence are listed (test messages are in none).
            aggregate_id=delivery.aggregate_id or "",
            sequence=delivery.sequence or 0,
            status=delivery.status,
            created_at=delivery.created_at,
            body=delivery.payload,
        )


class SecretRotation(BaseModel):
    """Rotate an endpoint's secret; the old one keeps signing for ``overlap_seconds``."""

    model_config = ConfigDict(extra="forbid")

    overlap_seconds: float | None = Field(
        None, ge=0, le=7 * 86400, description="Defaults to the operator's setting (24 h)."
    )
