"""Alembic environment for identity's database."""

from sqlmodel import SQLModel

import services.identity.models  # noqa: F401  (registers identity's tables on the metadata)
from shared.migrations import run_env

run_env(SQLModel.metadata)
