"""Session-wide real services and per-test databases on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support.services import Mosquitto, Postgres, start_mosquitto, start_postgres

TEST_AGENTS = ["agent-1", "agent-2"]


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[Mosquitto]:
    broker = start_mosquitto(TEST_AGENTS)
    yield broker
    broker.process.terminate()
    broker.process.wait(timeout=10)
    shutil.rmtree(broker.directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    pg = start_postgres()
    yield pg
    pg.stop(remove=False)
    # a database per test leaves a million files by the end of the run: remove them in the
    # background, or their removal counts against the last test's timeout on a slow disk
    subprocess.Popen(
        ["rm", "-rf", str(pg.directory)], start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


_names = itertools.count()


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from backend import migrate

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrate.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def _migrated_postgres(postgres: Postgres) -> str:
    from backend import migrate

    postgres.psql("CREATE DATABASE meterline_template")
    migrate.upgrade(postgres.url("meterline_template"))
    return "meterline_template"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database for one test, on SQLite and on PostgreSQL."""
    n = next(_names)
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("_migrated_sqlite")
        path = tmp_path / f"t{n}.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    pg: Postgres = request.getfixturevalue("postgres")
    template_name: str = request.getfixturevalue("_migrated_postgres")
    name = f"t{n}"
    pg.psql(f"CREATE DATABASE {name} TEMPLATE {template_name}")
    return pg.url(name)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[object]:
    from backend.db import create_engine

    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the browser tests last: Playwright's sync API keeps an event loop running in the main
    thread for as long as its session-scoped browser lives, and pytest-asyncio cannot start its
    own loop for async tests while it does. The sort is stable, so the rest keeps its order."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
