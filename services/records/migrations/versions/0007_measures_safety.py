"""Records: measures (assignments, responses), safety flags and versioned safety plans.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "measure_assignments",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("instrument", sa.String(20), nullable=False),
        sa.Column("cadence", sa.String(20), nullable=False),
        sa.Column("every_n", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint(
            "clinician_id", "client_id", "instrument", name="uq_measure_assignments_pair"
        ),
    )
    op.create_index("ix_measure_assignments_client_id", "measure_assignments", ["client_id"])
    op.create_table(
        "measure_responses",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "assignment_id", sa.Uuid(), sa.ForeignKey("measure_assignments.id"), nullable=True
        ),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column(
            "session_id", sa.Uuid(), sa.ForeignKey("session_records.session_id"), nullable=True
        ),
        sa.Column("instrument", sa.String(20), nullable=False),
        sa.Column("instrument_version", sa.String(20), nullable=False),
        sa.Column("phase", sa.String(10), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("band", sa.String(20), nullable=False),
        sa.Column("prorated", sa.Boolean(), nullable=False),
        sa.Column("subscales", sa.JSON(), nullable=False),
        sa.Column("sessions_held", sa.Integer(), nullable=False),
        sa.Column("completed_at", UtcDateTime(), nullable=False),
    )
    op.create_index(
        "ix_measure_responses_client", "measure_responses", ["client_id", "completed_at"]
    )
    op.create_table(
        "safety_flags",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("response_id", sa.Uuid(), sa.ForeignKey("measure_responses.id"), nullable=True),
        sa.Column("instrument", sa.String(20), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("escalated_at", UtcDateTime(), nullable=True),
        sa.Column("escalated_to", sa.Uuid(), nullable=True),
        sa.Column("acknowledged_at", UtcDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(30), nullable=True),
        sa.Column("action_note", sa.Text(), nullable=True),
    )
    op.create_index("ix_safety_flags_client_id", "safety_flags", ["client_id"])
    op.create_index("ix_safety_flags_due", "safety_flags", ["status", "due_at"])
    op.create_index("ix_safety_flags_clinician", "safety_flags", ["clinician_id", "status"])
    op.create_table(
        "safety_plan_versions",
        sa.Column("client_id", sa.Uuid(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("author_role", sa.String(20), nullable=False),
        sa.Column("saved_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("safety_plan_versions")
    op.drop_table("safety_flags")
    op.drop_table("measure_responses")
    op.drop_table("measure_assignments")
