"""An API client on a fresh database (SQLite and PostgreSQL) with billing on, the default
tariffs loaded, and a clock the test drives (``api.client.app.state.clock``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.app import create_app
from backend.db import session_factory
from backend.metering.consumption import on_readings_committed
from backend.prepaid import billing, ledger
from backend.prepaid.models import Charge
from backend.settings import load_settings
from backend.tariffs.loader import DEFAULT_FILE, load_file
from backend.tariffs.service import store_tariffs
from tests.integration.api.conftest import Api
from tests.support.prepaid_data import TZ, add_readings, local_ms
from tests.support.world import build_world

KWH = 1000


@pytest.fixture(autouse=True)
def _cheap_argon2(cheap_argon2: None) -> None:
    """Every test here logs in: test-cost Argon2 (tests/integration/conftest.py)."""


@pytest.fixture
async def life_api(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    async with session_factory(engine)() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE))
        await s.commit()
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        auth_require_totp=False, timezone="Asia/Shanghai",
    )  # fmt: skip
    async with AsyncTestClient(create_app(settings)) as client:
        yield Api(client, world, settings, engine)


def pin_clock(api: Api, y: int, mo: int, d: int, h: int = 12) -> None:
    api.client.app.state.clock = lambda: datetime(y, mo, d, h, tzinfo=TZ).timestamp()


async def read_hours(
    api: Api, meter: int, start: tuple[int, int, int, int], hours: int, from_kwh: int = 100
) -> None:
    """The meter reads 1 kWh more each hour from ``start`` (local), billed as it comes."""
    y, mo, d, h = start
    first = local_ms(y, mo, d, h)
    points = [(first + i * 3_600_000, (from_kwh + i) * KWH) for i in range(hours + 1)]
    sessions = session_factory(api.engine)
    async with sessions() as s:
        await add_readings(s, meter, points)
        await s.commit()
    span = [(meter, "energy_import", points[0][0], points[-1][0])]
    await on_readings_committed(sessions, span)
    await billing.on_readings_committed(sessions, span, TZ)


@dataclass
class Books:
    wh: int  # live charges' energy
    exact: Decimal  # their exact CNY
    reversed: int  # charges withdrawn by re-rating
    ledger_fen: int  # the ledger's sum


async def books(api: Api, account: int) -> Books:
    async with session_factory(api.engine)() as s:
        rows = (await s.scalars(select(Charge).where(Charge.account_id == account))).all()
        live = [c for c in rows if c.reversed_at is None]
        return Books(
            sum(c.wh for c in live),
            sum((Decimal(c.exact_cny) for c in live), Decimal(0)),
            sum(1 for c in rows if c.reversed_at is not None),
            await ledger.ledger_sum(s, account),
        )
