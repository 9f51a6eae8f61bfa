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
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real Argon2id, with test-sized cost: the production cost (~1 s a login on two busy
    cores) would dominate the suite. The parameters travel in each hash, so nothing else
    changes."""
    from argon2 import PasswordHasher

    from backend.auth import passwords

    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
async def api(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False
    )
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, world, settings, engine)
