"""Records: the guests (without accounts) each session's clinician invited, with their
relationship to the session.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_guests",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("session_records.session_id"),
            primary_key=True,
        ),
        sa.Column("guest_id", sa.Uuid(), primary_key=True),
        sa.Column("relationship", sa.String(20), nullable=False),
        sa.Column("invited_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("session_guests")
