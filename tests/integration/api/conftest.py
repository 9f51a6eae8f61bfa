"""An API client on a fresh database (SQLite and PostgreSQL) holding the test world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.app import create_app
from backend.settings import Settings, load_settings
from tests.support.world import PASSWORD, World, build_world


@dataclass
class Api:
    client: AsyncTestClient  # type: ignore[type-arg]
    world: World
    settings: Settings
    engine: AsyncEngine

    async def login(self, username: str) -> dict[str, str]:
        r = await self.client.post(
            "/api/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture(autouse=True)
def _cheap_argon2(cheap_argon2: None) -> None:
    """Every API test logs in: use test-cost Argon2 (tests/integration/conftest.py)."""


@pytest.fixture
async def api(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False
    )
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, world, settings, engine)
