"""An API client on a fresh database (SQLite and PostgreSQL), billing on, the prepaid engine's
background loops off (the tests bill by hand)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.app import create_app
from backend.settings import load_settings
from tests.integration.api.conftest import Api
from tests.support.world import build_world


@pytest.fixture(autouse=True)
def _cheap_argon2(cheap_argon2: None) -> None:
    """Every test here logs in: test-cost Argon2 (tests/integration/conftest.py)."""


@pytest.fixture
async def tariff_api(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        auth_require_totp=False, timezone="Asia/Shanghai",
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, world, settings, engine)
