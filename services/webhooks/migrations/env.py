"""Alembic environment of the webhooks service."""

from sqlmodel import SQLModel

import services.webhooks.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from shared.migrations import run_env

run_env(SQLModel.metadata)
