"""Alembic environment of the records database."""

from sqlmodel import SQLModel

import services.records.models  # noqa: F401  (registers the records tables)
import shared.events.inbox  # noqa: F401
import shared.events.outbox  # noqa: F401
from shared.migrations import run_env

run_env(SQLModel.metadata)
