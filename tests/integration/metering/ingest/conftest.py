"""An ``ingestor`` factory: a real Ingestor on the real Mosquitto, stopped and its broker
session deleted after the test (a persistent session left behind would keep queueing, and in
a shared group would even take a share of the next test's messages)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from backend.metering.ingest import Ingestor
from tests.support.ingest_agent import forget_session, settings_for, until
from tests.support.services import Mosquitto, Postgres

pytestmark = pytest.mark.mosquitto
_ids = itertools.count()

StartIngestor = Callable[..., Awaitable[Ingestor]]


@pytest.fixture
async def ingestor(mosquitto: Mosquitto, tmp_path: Path) -> AsyncIterator[StartIngestor]:
    started: list[Ingestor] = []

    async def start(
        database_url: str,
        *,
        client_id: str | None = None,
        after_commit: tuple[Any, ...] = (),
        connect: bool = True,
        **overrides: Any,
    ) -> Ingestor:
        settings = settings_for(database_url, mosquitto, str(tmp_path), **overrides)
        ing = Ingestor(
            settings,
            client_id=client_id or f"test-ingest-{next(_ids)}",
            after_commit=after_commit,
            stats_every_s=3600,
            housekeeping_every_s=3600,
        )
        await ing.start()
        started.append(ing)
        if connect:
            await until(lambda: ing.status == "connected", 10, "the ingestor to subscribe")
        return ing

    yield start
    for ing in started:
        await ing.stop()
    for cid in {ing.client_id for ing in started}:
        forget_session(mosquitto, cid)


@pytest.fixture
def sqlite_database_url(_migrated_sqlite: Path, tmp_path: Path) -> str:
    """A fresh migrated SQLite database, for tests whose subject is not the database."""
    path = tmp_path / f"ingest{next(_ids)}.db"
    shutil.copy(_migrated_sqlite, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def postgres_database_url(postgres: Postgres, _migrated_postgres: str) -> str:
    """A fresh migrated PostgreSQL database, for the tests that only make sense there."""
    name = f"ingest_pg_{next(_ids)}"
    postgres.psql(f"CREATE DATABASE {name} TEMPLATE {_migrated_postgres}")
    return postgres.url(name)
