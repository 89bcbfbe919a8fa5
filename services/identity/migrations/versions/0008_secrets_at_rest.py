"""Secrets at rest: TOTP secrets and private signing keys sealed with AES-256-GCM.

Existing plaintext values are sealed in place with the key from the environment
(``RAPPORT_IDENTITY_SECRETS_KEY``, read the way the service reads it; development and test fall
back to their public development key, production refuses to migrate without one). Values
already sealed are left alone, so running it against a partly sealed table is safe. The
downgrade opens them again (it needs the same key).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

from services.identity.secret_box import (
    SecretBox,
    is_sealed,
    signing_key_context,
    totp_context,
)
from services.identity.settings import IdentitySettings

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_users = sa.table("users", sa.column("id", sa.Uuid()), sa.column("totp_secret", sa.String()))
_keys = sa.table("signing_keys", sa.column("kid", sa.String()), sa.column("private_key_pem"))


def _box() -> SecretBox:
    return SecretBox(IdentitySettings().secrets_key_bytes())


def _rewrite(change: Callable[[str, str], str | None]) -> None:
    """Apply ``change(value, context)`` to every stored secret; None leaves a value as it is."""
    connection = op.get_bind()
    users = connection.execute(
        sa.select(_users.c.id, _users.c.totp_secret).where(_users.c.totp_secret.is_not(None))
    ).all()
    for user_id, secret in users:
        new = change(secret, totp_context(user_id))
        if new is not None:
            connection.execute(
                _users.update().where(_users.c.id == user_id).values(totp_secret=new)
            )
    for kid, pem in connection.execute(sa.select(_keys.c.kid, _keys.c.private_key_pem)).all():
        new = change(pem, signing_key_context(kid))
        if new is not None:
            connection.execute(_keys.update().where(_keys.c.kid == kid).values(private_key_pem=new))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.alter_column(
            "totp_secret", type_=sa.String(255), existing_type=sa.String(64), existing_nullable=True
        )
    box = _box()
    _rewrite(lambda value, context: None if is_sealed(value) else box.seal(value, context=context))


def downgrade() -> None:
    box = _box()
    _rewrite(lambda value, context: box.open(value, context=context) if is_sealed(value) else None)
    with op.batch_alter_table("users") as batch:
        batch.alter_column(
            "totp_secret", type_=sa.String(64), existing_type=sa.String(255), existing_nullable=True
        )
