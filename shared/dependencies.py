"""FastAPI dependencies every service's api.py uses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database


async def _unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    database: Database = request.app.state.database
    async with database.unit_of_work() as session:
        yield session


# scope="function": commit (or roll back) before the response is sent. FastAPI's default
# runs the code after ``yield`` once the response is out, so a 201 could precede a failed
# commit.
SessionDep = Annotated[AsyncSession, Depends(_unit_of_work, scope="function")]
