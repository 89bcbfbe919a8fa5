"""Records: partner grants a clinician revoked (tokens issued before stay refused).

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
        "partner_grant_revocations",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), primary_key=True),
        sa.Column("revoked_at", UtcDateTime(), nullable=False),
        sa.Column("regranted_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("partner_grant_revocations")
