"""Records: the in-call chat transcripts a clinic may choose to keep in the clinician's
private record.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_transcript_lines",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "session_id", sa.Uuid(), sa.ForeignKey("session_records.session_id"), nullable=False
        ),
        sa.Column("sender_id", sa.Uuid(), nullable=False),
        sa.Column("sender_role", sa.String(20), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
        sa.Column("saved_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_chat_transcript_lines_session_id", "chat_transcript_lines", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_chat_transcript_lines_session_id", "chat_transcript_lines")
    op.drop_table("chat_transcript_lines")
