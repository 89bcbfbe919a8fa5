"""Tables of the webhooks service: endpoints, deliveries (one per event and endpoint), attempts.

Retry state lives here, not in memory: a delivery's ``status`` and ``next_attempt_at`` say
what the dispatcher does next, so a restart (or another replica) picks up where it left off.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, String, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, utc_now


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class SignatureScheme(StrEnum):
    """How an endpoint's messages are signed (Standard Webhooks' signature identifiers)."""

    # HMAC-SHA256 with the endpoint's shared secret (``whsec_``).
    SYMMETRIC = "v1"
    # Ed25519 with the endpoint's private key; the partner verifies with the public ``whpk_``.
    ASYMMETRIC = "v1a"


class EndpointAudience(StrEnum):
    """Whose events an endpoint may receive."""

    # A clinic admin's endpoint: every event of the clinic it subscribes to.
    CLINIC = "clinic"
    # A partner app's endpoint: only events about clinicians who granted the app access.
    GRANTED = "granted"


class WebhookEndpoint(SQLModel, table=True):
    """A partner's URL subscribed to event types, and the secret its messages are signed with."""

    __tablename__ = "webhook_endpoints"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    owner_id: str = Field(max_length=200, index=True)
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    description: str = Field(default="", max_length=500)
    audience: str = Field(
        default=EndpointAudience.CLINIC, sa_column=Column(String(16), nullable=False)
    )
    # Kept in the clear because HMAC signing needs it; shown to the partner once, at creation.
    secret: str = Field(max_length=100)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # Deleted endpoints stay (their delivery log is part of the record) but receive nothing.
    deleted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # After a rotation the old secret keeps signing (next to the new one) until it expires,
    # so the partner can switch its receiver over without rejecting a single message.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # A disabled endpoint gets no new deliveries and no attempts until its owner enables it.
    disabled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    disabled_reason: str | None = Field(default=None, max_length=200)
    # When the current run of failed attempts began (None after any success).
    failing_since: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Which signatures each attempt carries: "v1" (HMAC), "v1a" (Ed25519), or both.
    signature_schemes: list[str] = Field(
        default_factory=lambda: [SignatureScheme.SYMMETRIC], sa_column=Column(JSON, nullable=False)
    )
    # The Ed25519 key pair of "v1a": the private key (whsk_) sealed under the operator's key
    # (shared.secret_box, bound to the endpoint and the public key), and the public key
    # (whpk_) as published to the partner. After a rotation the previous pair keeps signing
    # until it expires, as secrets do.
    signing_key: str | None = Field(default=None, max_length=200)
    public_key: str | None = Field(default=None, max_length=100)
    previous_signing_key: str | None = Field(default=None, max_length=200)
    previous_public_key: str | None = Field(default=None, max_length=100)
    previous_signing_key_expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The secrets each attempt is signed with right now: the current one, plus the
        previous one during a rotation's overlap window (none unless "v1" is offered)."""
        if SignatureScheme.SYMMETRIC not in self.signature_schemes:
            return []
        if (
            self.previous_secret is not None
            and self.previous_secret_expires_at is not None
            and now < self.previous_secret_expires_at
        ):
            return [self.secret, self.previous_secret]
        return [self.secret]

    def signing_key_pairs(self, now: datetime) -> list[tuple[str, str]]:
        """The Ed25519 keys each attempt is signed with right now, as (sealed private key,
        public key) pairs: none unless the endpoint is offered "v1a"; the current pair, plus
        the previous one during a rotation's overlap window."""
        if SignatureScheme.ASYMMETRIC not in self.signature_schemes:
            return []
        pairs = []
        if self.signing_key is not None and self.public_key is not None:
            pairs.append((self.signing_key, self.public_key))
        if (
            self.previous_signing_key is not None
            and self.previous_public_key is not None
            and self.previous_signing_key_expires_at is not None
            and now < self.previous_signing_key_expires_at
        ):
            pairs.append((self.previous_signing_key, self.previous_public_key))
        return pairs


class Delivery(SQLModel, table=True):
    """One event on its way to one endpoint; its id is the ``webhook-id`` of every attempt."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id", name="uq_deliveries_endpoint_event"),
        # One message per number in an aggregate's sequence to an endpoint.
        UniqueConstraint(
            "endpoint_id", "aggregate_id", "sequence", name="uq_deliveries_endpoint_sequence"
        ),
        Index(
            "ix_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoints.id", index=True)
    event_id: str = Field(max_length=64)
    event_type: str = Field(max_length=200)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Whose practice the event is about, for partner apps' endpoints (None on clinic endpoints
    # and for test events): when that clinician revokes the app's access, pending deliveries
    # of their events stop and none is replayed.
    clinician_id: uuid.UUID | None = None
    # The aggregate the event is about (the Kafka key its producer ordered it by: a session,
    # a goal, a care relationship, a user) and its place in that aggregate's messages to this
    # endpoint: 1, 2, 3... with no gap, so the partner can tell a missed or reordered message.
    # None for test messages.
    aggregate_id: str | None = Field(default=None, max_length=64)
    sequence: int | None = None
    status: str = Field(
        default=DeliveryStatus.PENDING, sa_column=Column(String(16), nullable=False)
    )
    attempt_count: int = 0
    # A replay starts the retry schedule over; attempts before it stay in the log.
    attempts_before_replay: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Set while an attempt is in flight (the claim's lease): such a delivery is never brought
    # forward, which would send it a second time while the first attempt is still running.
    leased_until: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class AggregateSequence(SQLModel, table=True):
    """The last sequence number given to an aggregate's messages to one endpoint."""

    __tablename__ = "aggregate_sequences"

    endpoint_id: uuid.UUID = Field(foreign_key="webhook_endpoints.id", primary_key=True)
    aggregate_id: str = Field(primary_key=True, max_length=64)
    last_sequence: int


class DeliveryAttempt(SQLModel, table=True):
    """One try at sending a delivery: what the endpoint answered (or why nothing arrived)."""

    __tablename__ = "delivery_attempts"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(
        sa_column=Column(String(40), ForeignKey("deliveries.id"), nullable=False, index=True)
    )
    attempt_number: int
    attempted_at: datetime = Field(sa_type=UtcDateTime)
    status_code: int | None = None
    error: str | None = Field(default=None, max_length=500)
    duration_ms: int


class ClinicianGrant(SQLModel, table=True):
    """Projection: an endpoint owner (a partner app) may receive events about this clinician.

    Filled from identity's ``partner.access_granted`` and emptied by ``partner.access_revoked``;
    without a grant a partner app's endpoints receive nothing but test events (fail closed).
    """

    __tablename__ = "clinician_grants"

    owner_id: str = Field(primary_key=True, max_length=200)
    clinician_id: uuid.UUID = Field(primary_key=True)
    granted_at: datetime = Field(sa_type=UtcDateTime)


class SessionClinician(SQLModel, table=True):
    """Projection from ``appointment.scheduled``: whose session it is (signaling events name
    only the session)."""

    __tablename__ = "session_clinicians"

    session_id: uuid.UUID = Field(primary_key=True)
    clinician_id: uuid.UUID
