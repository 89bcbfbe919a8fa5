"""Records: when appointments, goals and care relationships last changed (FHIR's
``meta.lastUpdated`` and the ``_lastUpdated`` search), set on every update.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> the column rows written before this revision take as their last change
TABLES = {"appointments": "created_at", "goals": "created_at", "care_relationships": "started_at"}


def upgrade() -> None:
    for table, since in TABLES.items():
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("updated_at", UtcDateTime(), nullable=True))
        op.execute(f"UPDATE {table} SET updated_at = {since}")  # noqa: S608 - fixed names
        with op.batch_alter_table(table) as batch:
            batch.alter_column("updated_at", existing_type=UtcDateTime(), nullable=False)
        op.create_index(f"ix_{table}_updated_at", table, ["updated_at"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(f"ix_{table}_updated_at", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("updated_at")
