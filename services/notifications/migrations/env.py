"""Alembic environment of the notifications service."""

from sqlmodel import SQLModel

import services.notifications.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from shared.migrations import run_env

run_env(SQLModel.metadata)
