"""SMART backend services: partner apps' public keys (or JWKS URL) and used assertion ids.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("partner_apps") as batch:
        batch.add_column(sa.Column("jwks", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("jwks_url", sa.String(2048), nullable=True))
    op.create_table(
        "client_assertion_uses",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("jti", sa.String(255), primary_key=True),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_client_assertion_uses_expires_at", "client_assertion_uses", ["expires_at"])


def downgrade() -> None:
    op.drop_table("client_assertion_uses")
    with op.batch_alter_table("partner_apps") as batch:
        batch.drop_column("jwks_url")
        batch.drop_column("jwks")
