"""The demo's organisation (R110): its grid sits in 西湖区 → 杭州市 → 浙江省, and seeding twice
makes it once."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from backend.db import create_engine, session_factory
from backend.demo import DEFAULT_METERS, DEFAULT_SPEED, prepare
from backend.demo_data import GRID_CODE, seed
from backend.field.grids.models import Grid, OrgUnit
from backend.settings import load_settings


async def test_the_demo_grid_sits_in_a_district_of_a_city_of_a_province(tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path / "var"), log_level="WARNING")
    fleet, _ = await prepare(settings, meters=DEFAULT_METERS, speed=DEFAULT_SPEED)
    await seed(settings, fleet)  # again: nothing new
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            grid = await s.scalar(select(Grid).where(Grid.code == GRID_CODE))
            assert grid is not None
            units = {u.id: u for u in await s.scalars(select(OrgUnit))}
            chain, at = [], grid.org_unit_id
            while at is not None:
                chain.append((units[at].level.value, units[at].name))
                at = units[at].parent_id
            assert chain == [("district", "西湖区"), ("city", "杭州市"), ("province", "浙江省")]
            assert len(units) == 3
    finally:
        await engine.dispose()
