"""Who else may join a session (invited participants) and how many may be in its call.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("session_access") as table:
        table.add_column(
            sa.Column("max_participants", sa.Integer(), nullable=False, server_default="2")
        )
        table.add_column(
            sa.Column("invited_participant_ids", sa.JSON(), nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("session_access") as table:
        table.drop_column("invited_participant_ids")
        table.drop_column("max_participants")
