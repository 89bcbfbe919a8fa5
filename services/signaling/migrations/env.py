"""Alembic environment for signaling's database."""

from sqlmodel import SQLModel

import services.signaling.models  # noqa: F401  (registers signaling's tables on the metadata)
from shared.migrations import run_env

run_env(SQLModel.metadata)
