"""Who accepted an invitation, and a public id for it (events name it).

``used_at`` becomes ``accepted_at``; ``accepted_by`` is backfilled for invitations accepted
before this revision from the account with the invited email (until now the only link).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

invitations = sa.table("invitations", sa.column("token_hash", sa.String), sa.column("id", sa.Uuid))


def upgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.alter_column("used_at", new_column_name="accepted_at")
        batch.add_column(sa.Column("id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("accepted_by", sa.Uuid(), nullable=True))
    connection = op.get_bind()
    for (token_hash,) in connection.execute(sa.text("SELECT token_hash FROM invitations")).all():
        connection.execute(
            invitations.update()
            .where(invitations.c.token_hash == token_hash)
            .values(id=uuid.uuid4())
        )
    connection.execute(
        sa.text(
            "UPDATE invitations SET accepted_by = "
            "(SELECT users.id FROM users WHERE users.email = invitations.email) "
            "WHERE accepted_at IS NOT NULL"
        )
    )
    with op.batch_alter_table("invitations") as batch:
        batch.alter_column("id", existing_type=sa.Uuid(), nullable=False)
        batch.create_unique_constraint("uq_invitations_id", ["id"])
        batch.create_foreign_key(
            "fk_invitations_accepted_by_users", "users", ["accepted_by"], ["id"]
        )
    op.create_index("ix_invitations_accepted_by", "invitations", ["accepted_by"])


def downgrade() -> None:
    op.drop_index("ix_invitations_accepted_by", "invitations")
    with op.batch_alter_table("invitations") as batch:
        batch.drop_constraint("fk_invitations_accepted_by_users", type_="foreignkey")
        batch.drop_constraint("uq_invitations_id", type_="unique")
        batch.drop_column("accepted_by")
        batch.drop_column("id")
        batch.alter_column("accepted_at", new_column_name="used_at")
