"""Guest links: one-time links for guests without an account to join one session.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "guest_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("clinician_id", sa.Uuid(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("relationship", sa.String(20), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("redeemed_at", UtcDateTime(), nullable=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
        sa.UniqueConstraint("id", name="uq_guest_links_id"),
        sa.CheckConstraint(
            "relationship IN ('interpreter', 'family-member', 'caregiver', 'supervisor', 'other')",
            name="ck_guest_links_relationship",
        ),
    )
    op.create_index(
        "ix_guest_links_session_clinician", "guest_links", ["session_id", "clinician_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_guest_links_session_clinician", "guest_links")
    op.drop_table("guest_links")
