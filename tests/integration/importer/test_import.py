"""`meterline import`: rows validated, bad ones reported by line, re-runs idempotent."""

from __future__ import annotations

import asyncio
import csv
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, Customer
from backend.cli import main
from backend.db import session_factory
from backend.field.grids.models import Grid, TransformerArea
from backend.metering.models import Meter, MeterStatus


async def cli(*args: str) -> int:
    """Run the real `meterline` command line (it runs its own event loop: in a thread)."""
    return await asyncio.to_thread(main, [*args, "--no-progress"])


EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"


@pytest.fixture
def cli_db(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("METERLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("METERLINE_DATA_DIR", str(tmp_path))
    return database_url


async def count(engine: AsyncEngine, model: type) -> int:
    async with session_factory(engine)() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def test_example_files_import_and_a_rerun_changes_nothing(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for kind in ("customers", "meters"):
        assert await cli("import", kind, str(EXAMPLES / f"{kind}.csv")) == 0
    out = capsys.readouterr().out
    assert "customers: 4 rows read, 4 imported (4 new, 0 updated, 0 unchanged), 0 rejected" in out
    assert "meters: 4 rows read, 4 imported (4 new, 0 updated, 0 unchanged), 0 rejected" in out
    counts = [await count(engine, m) for m in (Customer, Account, Meter, Grid, TransformerArea)]
    assert counts == [4, 4, 4, 2, 3]
    for kind in ("customers", "meters"):
        assert await cli("import", kind, str(EXAMPLES / f"{kind}.csv")) == 0
    assert "4 imported (0 new, 0 updated, 4 unchanged)" in capsys.readouterr().out
    assert [
        await count(engine, m) for m in (Customer, Account, Meter, Grid, TransformerArea)
    ] == counts
    async with session_factory(engine)() as s:
        m = await s.scalar(select(Meter).where(Meter.meter_id == "M-000012346"))
        c = await s.scalar(select(Customer).where(Customer.number == "3100020001"))
    assert m is not None
    assert m.account_id is not None  # the customer's only account
    assert c is not None
    assert c.protected


async def test_bad_rows_are_reported_with_line_numbers_and_good_rows_still_land(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "customers.csv"
    f.write_text(
        "户号,户名,用电类别,电话,账户号,账户类型\n"
        "C1,张三,居民生活,1380000,AC1,预付费\n"  # line 2: good, Chinese values
        "C2,,residential,,,\n"  # line 3: no name
        '"C3","李四\n(二号楼)",residential,,,\n'  # lines 4-5: a quoted newline, good
        "C4,王五,nuclear,,,\n"  # line 6: unknown category
        "C5,赵六,residential,,AC1,postpaid\n"  # line 7: AC1 belongs to C1
        "C6,孙七,residential\n"  # line 8: too few fields
        "C 7,周八,residential,,,\n",  # line 9: space in the number
        encoding="utf-8",
    )
    assert await cli("import", "customers", str(f)) == 3
    out = capsys.readouterr().out
    assert "7 rows read, 2 imported (2 new, 0 updated, 0 unchanged), 5 rejected" in out
    with (tmp_path / "customers.rejected.csv").open(encoding="utf-8") as fh:
        report = list(csv.DictReader(fh))
    assert [r["line"] for r in report] == ["3", "6", "7", "8", "9"]
    reasons = {r["line"]: r["reason"] for r in report}
    assert "name" in reasons["3"]
    assert "category" in reasons["6"]
    assert "account_number" in reasons["7"]
    assert "fields" in reasons["8"]
    assert "number" in reasons["9"]
    assert report[1]["number"] == "C4"
    assert await count(engine, Customer) == 2


async def test_an_unknown_column_stops_before_any_row(
    cli_db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "c.csv"
    f.write_text("number,name,category,balance_fen\nC1,A,residential,100000\n")
    assert await cli("import", "customers", str(f)) == 2
    assert "unknown column(s) balance_fen" in capsys.readouterr().err


async def test_a_changed_row_updates_and_a_replacement_ends_the_old_chain(
    cli_db: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    shutil.copy(EXAMPLES / "customers.csv", tmp_path / "c.csv")
    assert await cli("import", "customers", str(tmp_path / "c.csv")) == 0
    assert await cli("import", "meters", str(EXAMPLES / "meters.csv")) == 0
    m = tmp_path / "m.csv"
    m.write_text(
        "meter_id,customer_number,installed_on,replaces,protocol\n"
        "M-000012345,3100012345,2022-05-10,,modbus\n"
        "M-NEW-1,3100012345,2026-03-02,M-000012345,dlt645\n"
    )
    assert await cli("import", "meters", str(m)) == 0
    async with session_factory(engine)() as s:
        old = await s.scalar(select(Meter).where(Meter.meter_id == "M-000012345"))
        new = await s.scalar(select(Meter).where(Meter.meter_id == "M-NEW-1"))
    assert old is not None
    assert new is not None
    assert old.protocol == "modbus"
    assert old.status == MeterStatus.REMOVED
    assert old.removed_at is not None
    assert old.removed_at.isoformat() == "2026-03-01T16:00:00+00:00"  # local midnight
    assert new.replaces_meter_id == old.id
