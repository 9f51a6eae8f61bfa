"""`meterline import boxes`: meter boxes of an area and the meters placed in them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.areas.models import MeterBox, MeterPlacement
from backend.db import session_factory
from backend.metering.models import Meter
from tests.integration.importer.test_import import EXAMPLES, cli, cli_db, count

__all__ = ["cli_db"]


async def test_boxes_import_with_placements_rejects_bad_rows_by_line_and_a_rerun_changes_nothing(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind in ("customers", "meters", "areas"):
        assert await cli("import", kind, str(EXAMPLES / f"{kind}.csv")) == 0
    assert await cli("import", "boxes", str(EXAMPLES / "boxes.csv")) == 0
    assert "boxes: 3 rows read, 3 imported (2 new, 1 updated, 0 unchanged)" in (
        capsys.readouterr().out
    )
    assert [await count(engine, m) for m in (MeterBox, MeterPlacement)] == [2, 2]
    assert await cli("import", "boxes", str(EXAMPLES / "boxes.csv")) == 0
    assert "3 imported (0 new, 0 updated, 3 unchanged)" in capsys.readouterr().out
    bad = tmp_path / "boxes.csv"
    bad.write_text(
        "box_code,area_code,meter_id,from_day\n"
        "BX-0101-01,TA-0102,,\n"  # line 2: the box is in TA-0101
        "BX-9,NO-AREA,,\n"  # line 3
        "BX-0102-01,TA-0102,M-000020001,\n"  # line 4: no day
        "BX-0102-01,TA-0102,NO-METER,2025-01-01\n"  # line 5
        "BX-0102-01,TA-0102,M-000012346,2023-12-31\n"  # line 6: before its placement
        "BX-0102-01,TA-0102,M-000012345,2025-03-01\n"  # line 7: moved
        "bad code,TA-0102,,\n"  # line 8
    )
    assert await cli("import", "boxes", str(bad)) == 3
    out = capsys.readouterr().out
    assert "7 rows read, 1 imported (0 new, 1 updated, 0 unchanged), 6 rejected" in out
    for line, column in ((2, "box_code"), (3, "area_code"), (4, "from_day"), (5, "meter_id"),
                         (6, "from_day"), (8, "box_code")):  # fmt: skip
        (said,) = [x for x in out.splitlines() if x.startswith(f"  line {line}: ")]
        assert column in said, (line, said)
    async with session_factory(engine)() as s:
        pk = await s.scalar(select(Meter.id).where(Meter.meter_id == "M-000012345"))
        spans = (
            await s.execute(
                select(MeterBox.code, MeterPlacement.from_day, MeterPlacement.to_day)
                .join(MeterBox, MeterBox.id == MeterPlacement.meter_box_id)
                .where(MeterPlacement.meter_pk == pk)
                .order_by(MeterPlacement.from_day)
            )
        ).all()
    assert [(c, str(f), str(t)) for c, f, t in spans] == [
        ("BX-0101-01", "2024-01-01", "2025-03-01"),
        ("BX-0102-01", "2025-03-01", "None"),
    ]
