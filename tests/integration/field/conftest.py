"""Fixtures for field tests: the district, settings, a session, an HTTP client and tokens.

The district is built once per session into a template database (a SQLite file, a PostgreSQL
template) on top of the migrated template; each test gets a fresh copy, as ``database_url``
gives everywhere else, with the district already in it.
"""

from __future__ import annotations

import copy
import itertools
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.app import create_app
from backend.auth.guards import Caller, load_caller
from backend.auth.tokens import issue_access_token
from backend.db import create_engine, session_factory
from backend.settings import Settings, load_settings
from tests.integration.field.district import NOW_MS, District, build_district
from tests.support.services import Postgres

_names = itertools.count()


@pytest.fixture(scope="session")
async def field_district_sqlite(
    _migrated_sqlite: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, District]:
    path = tmp_path_factory.mktemp("district") / "district.db"
    shutil.copy(_migrated_sqlite, path)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    district = await build_district(engine)
    await engine.dispose()
    return path, district


@pytest.fixture(scope="session")
async def field_district_postgres(
    postgres: Postgres, _migrated_postgres: str
) -> tuple[str, District]:
    postgres.psql(f"CREATE DATABASE field_district TEMPLATE {_migrated_postgres}")
    engine = create_engine(postgres.url("field_district"))
    district = await build_district(engine)
    await engine.dispose()
    return "field_district", district


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh copy of the migrated database with the district in it, on both databases."""
    n = next(_names)
    if request.param == "sqlite":
        template, _ = request.getfixturevalue("field_district_sqlite")
        path = tmp_path / f"field{n}.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    pg: Postgres = request.getfixturevalue("postgres")
    template_name, _ = request.getfixturevalue("field_district_postgres")
    pg.psql(f"CREATE DATABASE field{n} TEMPLATE {template_name}")
    return pg.url(f"field{n}")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        auth_require_totp=False,
    )  # fmt: skip


@pytest.fixture
def district(request: pytest.FixtureRequest, database_url: str) -> District:
    """The district that is in this test's database (a copy: tests may add to it)."""
    sqlite = database_url.startswith("sqlite")
    name = "field_district_sqlite" if sqlite else "field_district_postgres"
    return copy.deepcopy(request.getfixturevalue(name)[1])


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with session_factory(engine)() as s:
        yield s


@pytest.fixture
async def client(settings: Settings, district: District) -> AsyncIterator[AsyncTestClient]:
    app = create_app(settings)
    app.state.clock = lambda: NOW_MS / 1000
    async with AsyncTestClient(app) as c:
        yield c


class Tokens:
    def __init__(self, settings: Settings, district: District) -> None:
        self.settings = settings
        self.district = district

    def __call__(self, username: str) -> dict[str, str]:
        user_id = self.district.users[username]
        role = username.split("-")[0]
        role = {"insp": "inspector", "sup": "supervisor", "op": "operator", "cust": "customer"}.get(
            role, role
        )
        token, _ = issue_access_token(
            self.settings, user_id=user_id, role=role, now=datetime.now(UTC)
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(settings: Settings, district: District) -> Tokens:
    """``auth("insp-west")`` → headers with a valid access token for that user."""
    return Tokens(settings, district)


@pytest.fixture
def caller(session: AsyncSession, district: District):  # type: ignore[no-untyped-def]
    async def load(username: str) -> Caller:
        found = await load_caller(session, district.users[username])
        assert found is not None
        return found

    return load
