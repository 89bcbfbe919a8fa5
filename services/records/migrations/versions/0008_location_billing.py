"""Records: the client's stated location per session, emergency contacts, clinicians'
licensed jurisdictions, the video frames each quality sample reported and what each session
was billed as.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "session_locations",
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("session_records.session_id"),
            primary_key=True,
        ),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("region", sa.String(10), nullable=False),
        sa.Column("at_home", sa.Boolean(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("stated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_session_locations_client_id", "session_locations", ["client_id"])
    op.create_table(
        "emergency_contacts",
        sa.Column("client_id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("relationship", sa.String(100), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "clinician_jurisdictions",
        sa.Column("clinician_id", sa.Uuid(), primary_key=True),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    with op.batch_alter_table("call_quality_samples") as batch:
        batch.add_column(sa.Column("video_frames_decoded", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("session_records") as batch:
        batch.add_column(sa.Column("billing", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("session_records") as batch:
        batch.drop_column("billing")
    with op.batch_alter_table("call_quality_samples") as batch:
        batch.drop_column("video_frames_decoded")
    op.drop_table("clinician_jurisdictions")
    op.drop_table("emergency_contacts")
    op.drop_index("ix_session_locations_client_id", "session_locations")
    op.drop_table("session_locations")
