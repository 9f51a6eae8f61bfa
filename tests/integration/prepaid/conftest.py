"""An API client for the prepaid and command endpoints, with the engine's background loops
off (the tests drive sweeps and acks themselves), and helpers to move money and relays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.app import create_app
from backend.db import session_factory
from backend.metering.models import Meter
from backend.prepaid import ledger
from backend.prepaid.models import EntryKind
from backend.settings import load_settings
from tests.integration.api.conftest import Api
from tests.support.world import build_world


@pytest.fixture(autouse=True)
def _cheap_argon2(cheap_argon2: None) -> None:
    """Every test here logs in: test-cost Argon2 (tests/integration/conftest.py)."""


@pytest.fixture
async def quiet_api(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        auth_require_totp=False,
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, world, settings, engine)


async def post(engine: AsyncEngine, account_id: int, kind: EntryKind, fen: int) -> None:
    async with session_factory(engine)() as s:
        await ledger.post(s, account_id, kind, fen, actor="test", memo="test")
        await s.commit()


async def set_relay(engine: AsyncEngine, meter_pk: int, relay: int | None, mode: int = 2) -> None:
    async with session_factory(engine)() as s:
        await s.execute(
            update(Meter)
            .where(Meter.id == meter_pk)
            .values(relay_state=relay, relay_control_mode=mode)
        )
        await s.commit()
