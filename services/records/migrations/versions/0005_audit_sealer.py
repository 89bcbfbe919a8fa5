"""Records: the audit chain is sealed beside the requests, in the order of ``seq``.

Requests append entries with database-assigned ids and no hash; a sealer gives each its
place (``seq``) and hashes afterwards. The append-only guards now allow exactly that one
change: an unsealed entry getting its seal, every other field kept.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.audit_log import sealing_condition

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_entries is append-only"


def upgrade() -> None:
    op.add_column("audit_entries", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.create_index("ix_audit_entries_seq", "audit_entries", ["seq"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        # Ids were assigned by the code until now, so the sequence never moved.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_entries', 'id'), "
            "COALESCE(MAX(id), 0) + 1, false) FROM audit_entries"
        )
        op.execute("ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_rewrite")
        # Entries chained before this revision were chained in id order.
        op.execute("UPDATE audit_entries SET seq = id WHERE entry_hash IS NOT NULL")
        op.execute("ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_no_rewrite")
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN "
            f"IF TG_OP = 'UPDATE' AND {sealing_condition('IS NOT DISTINCT FROM')} THEN RETURN NEW; "
            f"END IF; RAISE EXCEPTION '{APPEND_ONLY}'; END; $$"
        )
    else:
        op.execute("DROP TRIGGER audit_entries_no_update")
        op.execute("UPDATE audit_entries SET seq = id WHERE entry_hash IS NOT NULL")
        op.execute(
            "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
            f"WHEN NOT ({sealing_condition('IS')}) BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger "
            f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END; $$"
        )
    else:
        op.execute("DROP TRIGGER audit_entries_no_update")
        op.execute(
            "CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries "
            f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
        )
    op.drop_index("ix_audit_entries_seq", "audit_entries")
    op.drop_column("audit_entries", "seq")
