"""When the session started (the first admission), so session.started is recorded once.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("session_access") as table:
        table.add_column(sa.Column("started_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session_access") as table:
        table.drop_column("started_at")
