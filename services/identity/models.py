"""Identity's tables: user accounts and the keys that sign tokens."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import JSON, CheckConstraint, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

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


class SigningKey(SQLModel, table=True):
    """An Ed25519 key pair. The newest unretired key signs; retired keys only verify a while."""

    __tablename__ = "signing_keys"

    kid: str = Field(primary_key=True, max_length=64)
    algorithm: str = Field(default="EdDSA", max_length=20)
    private_key_pem: str = Field(sa_column=Column(Text, nullable=False))
    public_jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    retired_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
