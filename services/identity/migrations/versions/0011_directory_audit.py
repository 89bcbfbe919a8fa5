"""Identity: the directory's reads are audited, in the same sealed chain as records' log.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.audit_log import append_only_sql
from shared.db import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "directory_audit_entries"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("resource_type", sa.String(40), nullable=False),
        sa.Column("resource_id", sa.String(64), nullable=False),
        sa.Column("actor_subject", sa.String(128), nullable=True),
        sa.Column("origin", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("entry_hash", sa.String(64), nullable=True),
    )
    op.create_index(f"ix_{TABLE}_actor_id", TABLE, ["actor_id"])
    op.create_index(f"ix_{TABLE}_resource", TABLE, ["resource_type", "resource_id"])
    op.create_index(f"ix_{TABLE}_seq", TABLE, ["seq"], unique=True)
    # The database itself refuses to rewrite history, whatever code runs against it.
    for statement in append_only_sql(TABLE, op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table(TABLE)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {TABLE}_append_only()")
