"""An API client on a fresh database (SQLite and PostgreSQL) holding the test world."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from litestar import Litestar
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


_APP: dict[str, tuple[Litestar, Settings]] = {}


def _app(data_dir: Path) -> tuple[Litestar, Settings]:
    """One app for the whole run: building one (signatures, OpenAPI) costs more than most
    tests. Its lifespan opens the engine from ``settings.database_url`` at each client start,
    so each test points the shared settings at its own fresh database first."""
    if "app" not in _APP:
        settings = load_settings(
            env={}, data_dir=str(data_dir), ingest=False, auth_require_totp=False
        )  # TOTP tests turn it on
        _APP["app"] = (create_app(settings), settings)
    return _APP["app"]


@pytest.fixture
async def api(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, engine: AsyncEngine
) -> AsyncIterator[Api]:
    world = await build_world(engine)
    app, settings = _app(tmp_path_factory.getbasetemp() / "api-app")
    settings.database_url = database_url
    async with AsyncTestClient(app) as client:
        yield Api(client, world, settings, engine)
