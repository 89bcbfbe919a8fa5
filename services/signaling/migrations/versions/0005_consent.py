"""The clinic's consent versions and each client's latest signature, projected from records'
``consent.*`` events: a client who has not signed the current version is not let in.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "consent_versions",
        sa.Column("document_id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_consent_versions_version", "consent_versions", ["version"])
    op.create_table(
        "client_consents",
        sa.Column("client_id", sa.Uuid(), primary_key=True),
        sa.Column("signature_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("withdrawn_at", UtcDateTime(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("client_consents")
    op.drop_index("ix_consent_versions_version", "consent_versions")
    op.drop_table("consent_versions")
