"""Deliveries remember the clinician whose event they carry (revoking a partner's access).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("clinician_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as table:
        table.drop_column("clinician_id")
