"""Records: care relationships, two-party goal agreement, correctable goal updates,
check-ins, clinician notes, and the audit log's hash chain.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy): the append-only triggers on audit_entries stay.
    for column in (
        sa.Column("actor_subject", sa.String(128), nullable=True),
        sa.Column("origin", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=True),
        sa.Column("entry_hash", sa.String(64), nullable=True),
    ):
        op.add_column("audit_entries", column)
    op.create_table(
        "client_values",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("supersedes_id", sa.Uuid(), sa.ForeignKey("client_values.id"), nullable=True),
        sa.Column("superseded_at", UtcDateTime(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_client_values_client_id", "client_values", ["client_id"])
    with op.batch_alter_table("goals") as goals:
        goals.add_column(
            sa.Column(
                "value_id",
                sa.Uuid(),
                sa.ForeignKey("client_values.id", name="fk_goals_value_id"),
                nullable=True,
            )
        )
        goals.add_column(sa.Column("achievement_status", sa.String(20), nullable=True))
        goals.add_column(
            sa.Column("proposed_by_role", sa.String(20), nullable=False, server_default="clinician")
        )
        goals.add_column(sa.Column("target", sa.Text(), nullable=True))
        goals.add_column(sa.Column("due_date", sa.Date(), nullable=True))
    op.create_table(
        "goal_agreements",
        sa.Column("goal_id", sa.Uuid(), sa.ForeignKey("goals.id"), primary_key=True),
        sa.Column("party_role", sa.String(20), primary_key=True),
        sa.Column("agreed_by", sa.Uuid(), nullable=False),
        sa.Column("agreed_at", UtcDateTime(), nullable=False),
    )
    with op.batch_alter_table("goal_updates") as updates:
        updates.add_column(
            sa.Column(
                "corrects_id",
                sa.Uuid(),
                sa.ForeignKey("goal_updates.id", name="fk_goal_updates_corrects_id"),
                nullable=True,
            )
        )
        updates.add_column(sa.Column("entered_in_error_at", UtcDateTime(), nullable=True))
    op.create_table(
        "care_relationships",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_via", sa.String(20), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime(), nullable=True),
        sa.Column("plan_status", sa.String(20), nullable=False),
        sa.Column("ending_criteria", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_care_relationships_pair", "care_relationships", ["clinician_id", "client_id"]
    )
    op.create_index("ix_care_relationships_client_id", "care_relationships", ["client_id"])
    op.create_table(
        "check_ins",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column(
            "session_id",
            sa.Uuid(),
            sa.ForeignKey("session_records.session_id"),
            nullable=False,
        ),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        *(sa.Column(f"item{i}", sa.Integer(), nullable=False) for i in range(1, 5)),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("flags", sa.String(200), nullable=False),
        sa.Column("submitted_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("session_id", "kind", name="uq_check_ins_session_kind"),
        sa.CheckConstraint(
            " AND ".join(f"item{i} BETWEEN 0 AND 10" for i in range(1, 5)),
            name="ck_check_ins_items",
        ),
    )
    op.create_index("ix_check_ins_client_id", "check_ins", ["client_id"])
    op.create_table(
        "clinician_notes",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("clinician_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column(
            "session_id", sa.Uuid(), sa.ForeignKey("session_records.session_id"), nullable=True
        ),
        sa.Column("visibility", sa.String(10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_clinician_notes_clinician_id", "clinician_notes", ["clinician_id"])
    op.create_index("ix_clinician_notes_client_id", "clinician_notes", ["client_id"])


def downgrade() -> None:
    for name in ("entry_hash", "prev_hash", "reason", "origin", "actor_subject"):
        op.drop_column("audit_entries", name)
    op.drop_table("clinician_notes")
    op.drop_table("check_ins")
    op.drop_table("care_relationships")
    with op.batch_alter_table("goal_updates") as updates:
        updates.drop_constraint("fk_goal_updates_corrects_id", type_="foreignkey")
        updates.drop_column("entered_in_error_at")
        updates.drop_column("corrects_id")
    op.drop_table("goal_agreements")
    with op.batch_alter_table("goals") as goals:
        goals.drop_constraint("fk_goals_value_id", type_="foreignkey")
        for column in ("due_date", "target", "proposed_by_role", "achievement_status", "value_id"):
            goals.drop_column(column)
    op.drop_table("client_values")
