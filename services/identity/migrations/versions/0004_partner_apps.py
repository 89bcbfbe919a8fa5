"""Partner apps (OAuth2 clients) and the clinicians who granted each one access.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "partner_apps",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("secret_rotated_at", UtcDateTime(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.create_table(
        "partner_grants",
        sa.Column(
            "client_id", sa.String(64), sa.ForeignKey("partner_apps.client_id"), primary_key=True
        ),
        sa.Column("clinician_id", sa.Uuid(), sa.ForeignKey("users.id"), primary_key=True),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("partner_grants")
    op.drop_table("partner_apps")
