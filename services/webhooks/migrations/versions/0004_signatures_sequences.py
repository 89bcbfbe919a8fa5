"""Ed25519 ("v1a") signing keys, per-aggregate sequence numbers, delivery leases.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as table:
        table.add_column(
            sa.Column("signature_schemes", sa.JSON(), nullable=False, server_default='["v1"]')
        )
        table.add_column(sa.Column("signing_key", sa.String(200), nullable=True))
        table.add_column(sa.Column("public_key", sa.String(100), nullable=True))
        table.add_column(sa.Column("previous_signing_key", sa.String(200), nullable=True))
        table.add_column(sa.Column("previous_public_key", sa.String(100), nullable=True))
        table.add_column(sa.Column("previous_signing_key_expires_at", UtcDateTime(), nullable=True))
    with op.batch_alter_table("deliveries") as table:
        table.add_column(sa.Column("aggregate_id", sa.String(64), nullable=True))
        table.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        table.add_column(sa.Column("leased_until", UtcDateTime(), nullable=True))
        table.create_unique_constraint(
            "uq_deliveries_endpoint_sequence", ["endpoint_id", "aggregate_id", "sequence"]
        )
    op.create_table(
        "aggregate_sequences",
        sa.Column(
            "endpoint_id", sa.Uuid(), sa.ForeignKey("webhook_endpoints.id"), primary_key=True
        ),
        sa.Column("aggregate_id", sa.String(64), primary_key=True),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aggregate_sequences")
    with op.batch_alter_table("deliveries") as table:
        table.drop_constraint("uq_deliveries_endpoint_sequence", type_="unique")
        table.drop_column("leased_until")
        table.drop_column("sequence")
        table.drop_column("aggregate_id")
    with op.batch_alter_table("webhook_endpoints") as table:
        table.drop_column("previous_signing_key_expires_at")
        table.drop_column("previous_public_key")
        table.drop_column("previous_signing_key")
        table.drop_column("public_key")
        table.drop_column("signing_key")
        table.drop_column("signature_schemes")
