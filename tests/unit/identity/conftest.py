"""Fixtures for identity's unit tests: a migrated SQLite file per test and the real app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from shared.db import Database
from shared.migrations import upgrade

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "identity" / "migrations"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}"


@pytest.fixture
def settings(database_url: str) -> IdentitySettings:
    # Port 1 refuses connections: the relay just retries in the background, no Kafka needed.
    return IdentitySettings(
        environment="test", database_url=database_url, kafka_bootstrap="127.0.0.1:1"
    )


@pytest.fixture
async def migrated(database_url: str) -> str:
    await asyncio.to_thread(upgrade, MIGRATIONS, database_url)
    return database_url


@pytest.fixture
async def database(migrated: str) -> AsyncIterator[Database]:
    """A second handle on the test database, for looking at rows the app wrote."""
    database = Database(migrated)
    yield database
    await database.dispose()


@pytest.fixture
async def app(settings: IdentitySettings, migrated: str) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        yield client
