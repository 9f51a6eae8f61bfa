"""A power cut on the demo's simulated meters, end to end: the drill cuts the simulators'
supply, the agent reports its buses dark as power failures, ingestion stores them, the
correlator opens one area outage and tells exactly the customers whose meters went dark; the
restore brings the meters back and closes it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from backend.accounts.models import Customer
from backend.areas import service
from backend.areas.models import AreaOutage, OutageCustomerNotice
from backend.db import create_engine, session_factory
from backend.demo import DEFAULT_METERS, DEFAULT_SPEED, prepare, running
from backend.field.grids.models import TransformerArea
from backend.settings import Settings
from tests.integration.test_demo import _has_readings, demo_settings
from tests.support.e2e import until

pytestmark = pytest.mark.mosquitto


async def _outage(settings: Settings, *, closed: bool, meters: int) -> AreaOutage | None:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            row = await s.scalar(select(AreaOutage).order_by(AreaOutage.id.desc()).limit(1))
            if row is None or row.meters != meters or (row.ended_at is not None) != closed:
                return None
            return row
    finally:
        await engine.dispose()


async def _told(settings: Settings, outage: int) -> set[tuple[str, str]]:
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            rows = await s.execute(
                select(Customer.number, OutageCustomerNotice.kind)
                .join(Customer, Customer.id == OutageCustomerNotice.customer_id)
                .where(OutageCustomerNotice.outage_id == outage)
            )
            return {(n, str(k)) for n, k in rows.all()}
    finally:
        await engine.dispose()


async def _drill(settings: Settings, restore: bool) -> int:
    engine = create_engine(settings.database_url)
    tz = ZoneInfo(settings.timezone)
    try:
        async with session_factory(engine)() as s:
            area = await s.scalar(
                select(TransformerArea.id).where(TransformerArea.code == "TA-0101")
            )
            assert area is not None
            return await service.drill(
                s, area, restore, settings.areas_drill_control, datetime.now(tz).date()
            )
    finally:
        await engine.dispose()


async def test_a_drilled_power_cut_on_simulated_meters_opens_tells_exactly_them_and_closes(
    tmp_path: Path,
) -> None:
    settings = demo_settings(tmp_path)
    fleet, _ = await prepare(settings, meters=DEFAULT_METERS, speed=DEFAULT_SPEED)
    cut = [*fleet.dlt645, *fleet.dlt698]  # the Modbus meters are not reachable by a drill
    async with running(settings, fleet):
        await until(lambda: _has_readings(settings, cut), "readings of every meter", 120)
        assert await _drill(settings, restore=False) == len(cut)
        opened = await until(
            lambda: _outage(settings, closed=False, meters=len(cut)), "the area outage", 120
        )
        assert await _told(settings, opened.id) == {(m.customer_number, "off") for m in cut}
        assert await _drill(settings, restore=True) == len(cut)
        closed = await until(
            lambda: _outage(settings, closed=True, meters=len(cut)), "power back", 120
        )
    assert closed.id == opened.id
    assert await _told(settings, opened.id) == {
        (m.customer_number, kind) for m in cut for kind in ("off", "on")
    }
