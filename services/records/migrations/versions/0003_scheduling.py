"""Records: availability and exceptions, extra participants and who booked, reminders sent,
and call-quality samples.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("appointments") as appointments:
        appointments.add_column(
            sa.Column("max_participants", sa.Integer(), nullable=False, server_default="2")
        )
        appointments.add_column(
            sa.Column("invited_participant_ids", sa.JSON(), nullable=False, server_default="[]")
        )
        appointments.add_column(
            sa.Column("booked_by", sa.String(20), nullable=False, server_default="clinician")
        )
    op.create_table(
        "availability",
        sa.Column("clinician_id", sa.Uuid(), primary_key=True),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("weekly_hours", sa.JSON(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=True),
        sa.Column("step_minutes", sa.Integer(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "availability_exceptions",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=True),
        sa.Column("end_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_availability_exceptions_clinician_id", "availability_exceptions", ["clinician_id"]
    )
    op.create_table(
        "reminders_sent",
        sa.Column("appointment_id", sa.Uuid(), sa.ForeignKey("appointments.id"), primary_key=True),
        sa.Column("lead_minutes", sa.Integer(), primary_key=True),
        sa.Column("starts_at", UtcDateTime(), primary_key=True),
        sa.Column("sent_at", UtcDateTime(), nullable=False),
    )
    # The completion loop looks for ended sessions not yet announced.
    op.create_index(
        "ix_session_records_announcement",
        "session_records",
        ["completion_announced_at", "ended_at"],
    )
    op.create_table(
        "call_quality_samples",
        sa.Column(
            "session_id", sa.Uuid(), sa.ForeignKey("session_records.session_id"), primary_key=True
        ),
        sa.Column("user_id", sa.Uuid(), primary_key=True),
        sa.Column("at", UtcDateTime(), primary_key=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("round_trip_ms", sa.Float(), nullable=True),
        sa.Column("packet_loss", sa.Float(), nullable=True),
        sa.Column("jitter_ms", sa.Float(), nullable=True),
        sa.Column("bitrate_kbps", sa.Float(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("call_quality_samples")
    op.drop_index("ix_session_records_announcement", "session_records")
    op.drop_table("reminders_sent")
    op.drop_index("ix_availability_exceptions_clinician_id", "availability_exceptions")
    op.drop_table("availability_exceptions")
    op.drop_table("availability")
    with op.batch_alter_table("appointments") as appointments:
        for name in ("booked_by", "invited_participant_ids", "max_participants"):
            appointments.drop_column(name)
