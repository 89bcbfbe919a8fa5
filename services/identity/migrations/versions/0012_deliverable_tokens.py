"""Identity: reset requests get a public id, and reset and invitation tokens are kept sealed
for the notifications service to email.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Requests made before this revision are given an id too (their links went nowhere).
    with op.batch_alter_table("password_resets") as batch:
        batch.add_column(sa.Column("id", sa.Uuid(), nullable=True))
        batch.add_column(sa.Column("sealed_token", sa.Text(), nullable=True))
    resets = sa.table("password_resets", sa.column("token_hash", sa.String), sa.column("id"))
    connection = op.get_bind()
    for (token_hash,) in connection.execute(sa.select(resets.c.token_hash)).all():
        connection.execute(
            resets.update().where(resets.c.token_hash == token_hash).values(id=uuid.uuid4())
        )
    with op.batch_alter_table("password_resets") as batch:
        batch.alter_column("id", existing_type=sa.Uuid(), nullable=False)
        batch.create_unique_constraint("uq_password_resets_id", ["id"])
    with op.batch_alter_table("invitations") as batch:
        batch.add_column(sa.Column("sealed_token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invitations") as batch:
        batch.drop_column("sealed_token")
    with op.batch_alter_table("password_resets") as batch:
        batch.drop_constraint("uq_password_resets_id", type_="unique")
        batch.drop_column("sealed_token")
        batch.drop_column("id")
