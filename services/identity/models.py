"""Identity's tables: user accounts and the keys that sign tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.audit_log import AuditFields
from shared.db import UtcDateTime, utc_now

ROLES: Final = ("client", "clinician", "admin")
# Roles a person may give themselves at registration; admins come only from the CLI.
SELF_SERVICE_ROLES: Final = ("client", "clinician")

EMAIL_MAX_LENGTH: Final = 320
DISPLAY_NAME_MAX_LENGTH: Final = 100


class User(SQLModel, table=True):
    """A person who signs in: a client, a clinician or an admin."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('client', 'clinician', 'admin')", name="ck_users_role"),
        # Emails are stored lower-cased, so this makes them unique case-insensitively.
        UniqueConstraint("email", name="uq_users_email"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    # Normalized and lower-cased before it is stored (see service.normalize_email).
    email: str = Field(max_length=EMAIL_MAX_LENGTH)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX_LENGTH)
    role: str = Field(max_length=20)
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # Self-registered clinicians wait for an admin's approval when the deployment says so.
    is_approved: bool = True
    # An IANA zone name (checked against the tz database before it is stored).
    time_zone: str = Field(default="UTC", max_length=64)
    # TOTP: a secret is set at enrollment and in force once confirmed (totp_enabled_at).
    # Stored sealed (AES-GCM, services.identity.secret_box), never in the clear.
    totp_secret: str | None = Field(default=None, max_length=255)
    totp_enabled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # The time step of the last accepted code: no code of that step or earlier works again.
    totp_last_step: int | None = Field(default=None, sa_type=BigInteger)

    @property
    def mfa_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class SigningKey(SQLModel, table=True):
    """An Ed25519 key pair. The newest unretired key signs; retired keys only verify a while."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    algorithm: str = Field(default="EdDSA", max_length=20)
    # Sealed (AES-GCM, services.identity.secret_box); the name predates the sealing.
    private_key_pem: str = Field(sa_column=Column(Text, nullable=False))
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class RefreshFamily(SQLModel, table=True):
    """The refresh tokens descended from one login; revoked together."""

    __tablename__ = "refresh_families"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # The absolute lifetime: no rotation extends a family past this.
    expires_at: datetime = Field(sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_reason: str | None = Field(default=None, max_length=40)


class RefreshToken(SQLModel, table=True):
    """One refresh token, stored only as the SHA-256 of its 256 random bits."""

    __tablename__ = "refresh_tokens"

    # SHA-256 suffices (no salt, no stretching): the token is random, not a guessable password.
    token_hash: str = Field(primary_key=True, max_length=64)
    family_id: uuid.UUID = Field(foreign_key="refresh_families.id", index=True)
    issued_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # The idle timeout: a token not used by then has expired.
    expires_at: datetime = Field(sa_type=UtcDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class RecoveryCode(SQLModel, table=True):
    """A one-time code that stands in for a TOTP code, stored as its SHA-256 digest."""

    __tablename__ = "recovery_codes"

    code_hash: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class PartnerApp(SQLModel, table=True):
    """An OAuth2 client (an EHR, a scheduler) using the client-credentials grant."""

    __tablename__ = "partner_apps"

    client_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=100)
    # SHA-256 of a 256-bit random secret: unguessable, so no slow hash is needed.
    secret_hash: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_by: uuid.UUID
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    secret_rotated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    is_active: bool = True
    # SMART backend services: the public keys that verify the app's client assertions, held
    # here (``{"keys": [...]}``) or fetched from the app's JWKS URL; at most one of the two.
    jwks: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    jwks_url: str | None = Field(default=None, max_length=2048)


class ClientAssertionUse(SQLModel, table=True):
    """A client assertion's ``jti``, kept until the assertion expires so it works only once."""

    __tablename__ = "client_assertion_uses"

    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=255)
    expires_at: datetime = Field(sa_type=UtcDateTime, index=True)


class PartnerGrant(SQLModel, table=True):
    """A clinician letting a partner app act on their practice's data."""

    __tablename__ = "partner_grants"

    client_id: str = Field(foreign_key="partner_apps.client_id", primary_key=True, max_length=64)
    clinician_id: uuid.UUID = Field(foreign_key="users.id", primary_key=True)
    granted_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class PasswordReset(SQLModel, table=True):
    """A password reset token, stored as the SHA-256 of its 256 random bits."""

    __tablename__ = "password_resets"

    token_hash: str = Field(primary_key=True, max_length=64)
    # The public name of the request (its event carries it; the token stays here).
    id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # The token itself, sealed (services.identity.secret_box), for the notifications service to
    # fetch over the internal API and email; dropped once the token is used.
    sealed_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Invitation(SQLModel, table=True):
    """A clinician's one-time invitation for a client to join, stored hashed."""

    __tablename__ = "invitations"

    token_hash: str = Field(primary_key=True, max_length=64)
    # The public name of the invitation (events carry it; the token's digest stays here).
    id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    clinician_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    # Normalized like account emails: only this address can accept it.
    email: str = Field(max_length=EMAIL_MAX_LENGTH)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    # Set together by the registration that used it: once accepted, never again.
    accepted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    accepted_by: uuid.UUID | None = Field(default=None, foreign_key="users.id", index=True)
    # Sealed like a reset's token, for the notifications service to email the link; dropped
    # on acceptance. None for the invitations identity creates to link existing accounts.
    sealed_token: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class LoginFailure(SQLModel, table=True):
    """Failed logins in a row for one email (registered or not), and the lock they caused.

    In the database rather than in memory, so every identity process sees the same count.
    """

    __tablename__ = "login_failures"

    # Normalized like account emails, or as typed when it is not a valid address.
    email: str = Field(primary_key=True, max_length=EMAIL_MAX_LENGTH)
    failures: int = 0
    last_failure_at: datetime = Field(sa_type=UtcDateTime, index=True)
    locked_until: datetime | None = Field(default=None, sa_type=UtcDateTime)


class DirectoryAuditEntry(AuditFields, table=True):
    """Who looked up whom in the directory (names, emails), and when; the same tamper-evident
    chain as records' audit log (shared.audit_log)."""

    __tablename__ = "directory_audit_entries"
    __table_args__ = (
        Index("ix_directory_audit_entries_resource", "resource_type", "resource_id"),
        Index("ix_directory_audit_entries_seq", "seq", unique=True),
    )


class GuestLink(SQLModel, table=True):
    """A clinician's one-time link for a guest without an account (an interpreter, a family
    member) to join one session, stored as the SHA-256 of its 256 random bits.

    Redeeming it issues a guest token for that session only; the guest is known by ``id``
    alone (no name or email is kept), which is also the token's subject.
    """

    __tablename__ = "guest_links"
    __table_args__ = (
        CheckConstraint(
            "relationship IN ('interpreter', 'family-member', 'caregiver', 'supervisor', 'other')",
            name="ck_guest_links_relationship",
        ),
        Index("ix_guest_links_session_clinician", "session_id", "clinician_id"),
    )

    token_hash: str = Field(primary_key=True, max_length=64)
    # The guest's id: events, the roster and the guest token's subject carry it.
    id: uuid.UUID = Field(default_factory=uuid.uuid4, unique=True)
    session_id: uuid.UUID
    clinician_id: uuid.UUID = Field(foreign_key="users.id")
    relationship: str = Field(max_length=20)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    expires_at: datetime = Field(sa_type=UtcDateTime)
    # Set once, by the redemption: the link never works again.
    redeemed_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
