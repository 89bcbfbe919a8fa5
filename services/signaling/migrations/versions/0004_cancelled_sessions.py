"""When the session's appointment was cancelled: nobody joins a cancelled session.

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
    with op.batch_alter_table("session_access") as table:
        table.add_column(sa.Column("cancelled_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session_access") as table:
        table.drop_column("cancelled_at")
