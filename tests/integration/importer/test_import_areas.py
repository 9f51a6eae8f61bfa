"""`meterline import areas`: an area's substation, feeder, transformer and total meter."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.areas.models import AreaSupply, Feeder, Substation
from backend.db import session_factory
from backend.field.grids.models import TransformerArea
from backend.metering.models import Meter
from tests.integration.importer.test_import import EXAMPLES, cli, cli_db, count

__all__ = ["cli_db"]


async def test_areas_import_with_their_feeders_and_total_meters_and_a_rerun_changes_nothing(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind in ("customers", "meters"):
        assert await cli("import", kind, str(EXAMPLES / f"{kind}.csv")) == 0
    assert await cli("import", "areas", str(EXAMPLES / "areas.csv")) == 0
    assert "areas: 2 rows read, 2 imported (2 new, 0 updated, 0 unchanged)" in (
        capsys.readouterr().out
    )
    assert [await count(engine, m) for m in (Substation, Feeder, AreaSupply)] == [1, 1, 2]
    total = tmp_path / "total.csv"
    total.write_text("meter_id,protocol,address\nTA-0101-ZB,dlt645,000099990001\n")
    assert await cli("import", "meters", str(total)) == 0
    moved = tmp_path / "areas.csv"
    moved.write_text(
        "area_code,feeder_code,rated_kva,total_meter_id,ct_ratio\n"
        "TA-0101,F-DC101,500,TA-0101-ZB,40\n"
        "TA-0102,F-DC101,315,NO-SUCH-METER,1\n"
        "TA-0102,F-DC101,315,,1\n"
    )
    assert await cli("import", "areas", str(moved)) == 3
    out = capsys.readouterr().out
    # TA-0102 twice in one file: both lines refused
    assert "3 rows read, 1 imported (0 new, 1 updated, 0 unchanged), 2 rejected" in out
    moved.write_text(
        "area_code,feeder_code,rated_kva,total_meter_id,ct_ratio\n"
        "TA-0101,F-DC101,500,TA-0101-ZB,40\n"
        "TA-0102,F-DC101,315,NO-SUCH-METER,1\n"
    )
    assert await cli("import", "areas", str(moved)) == 3
    assert "1 imported (0 new, 0 updated, 1 unchanged), 1 rejected" in capsys.readouterr().out
    async with session_factory(engine)() as s:
        area = await s.scalar(select(TransformerArea.id).where(TransformerArea.code == "TA-0101"))
        assert area is not None
        supply = await s.get(AreaSupply, area)
        zb = await s.scalar(select(Meter.id).where(Meter.meter_id == "TA-0101-ZB"))
    assert supply is not None
    assert (supply.rated_kva, supply.total_meter_pk, supply.ct_ratio) == (500, zb, 40)
