"""Endpoint lifecycle (rotation overlap, disabling, failing since), replays, tenancy seam.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as table:
        table.add_column(sa.Column("previous_secret", sa.String(100), nullable=True))
        table.add_column(sa.Column("previous_secret_expires_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("disabled_at", UtcDateTime(), nullable=True))
        table.add_column(sa.Column("disabled_reason", sa.String(200), nullable=True))
        table.add_column(sa.Column("failing_since", UtcDateTime(), nullable=True))
        table.add_column(
            sa.Column("audience", sa.String(16), nullable=False, server_default="clinic")
        )
    with op.batch_alter_table("deliveries") as table:
        table.add_column(
            sa.Column("attempts_before_replay", sa.Integer(), nullable=False, server_default="0")
        )

    op.create_table(
        "clinician_grants",
        sa.Column("owner_id", sa.String(200), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), primary_key=True),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "session_clinicians",
        sa.Column("session_id", sa.Uuid(), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_clinicians")
    op.drop_table("clinician_grants")
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("attempts_before_replay")
    with op.batch_alter_table("webhook_endpoints") as table:
        table.drop_column("audience")
        table.drop_column("failing_since")
        table.drop_column("disabled_reason")
        table.drop_column("disabled_at")
        table.drop_column("previous_secret_expires_at")
        table.drop_column("previous_secret")
