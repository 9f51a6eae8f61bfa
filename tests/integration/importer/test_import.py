"""`meterline import`: rows validated, bad ones reported by line, re-runs idempotent."""

from __future__ import annotations

import asyncio
import csv
import shutil
from datetime import date
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


async def _rejected(tmp_path: Path, name: str) -> dict[str, str]:
    with (tmp_path / f"{name}.rejected.csv").open(encoding="utf-8") as fh:
        return {r["line"]: r["reason"] for r in csv.DictReader(fh)}


async def test_a_row_never_renames_a_grid_or_area_unless_asked(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.csv"
    first.write_text(
        "number,name,category,grid_code,grid_name,area_code,area_name\n"
        "C1,张三,residential,G1,东城网格,TA1,一号台区\n"
    )
    assert await cli("import", "customers", str(first)) == 0
    second = tmp_path / "second.csv"
    second.write_text(
        "number,name,category,grid_code,grid_name,area_code,area_name\n"
        "C2,李四,residential,G1,西城网格,TA1,一号台区\n"  # line 2: another grid name
        "C3,王五,residential,G1,东城网格,TA1,二号台区\n"  # line 3: another area name
        "C4,赵六,residential,G1,,TA1,\n"  # line 4: names left out: nothing to rename
    )
    assert await cli("import", "customers", str(second)) == 3
    reasons = await _rejected(tmp_path, "second")
    assert sorted(reasons) == ["2", "3"]
    assert "grid_name: grid G1 is named '东城网格'" in reasons["2"]
    assert "--rename-reference" in reasons["2"]
    assert "area_name: area TA1 is named '一号台区'" in reasons["3"]
    async with session_factory(engine)() as s:
        assert await s.scalar(select(Grid.name).where(Grid.code == "G1")) == "东城网格"
        assert await s.scalar(select(TransformerArea.name)) == "一号台区"
        assert await s.scalar(select(Customer.id).where(Customer.number == "C2")) is None
    capsys.readouterr()
    renaming = tmp_path / "renaming.csv"
    renaming.write_text(
        "number,name,category,grid_code,grid_name,area_code,area_name\n"
        "C2,李四,residential,G1,西城网格,TA1,二号台区\n"
    )
    assert await cli("import", "customers", str(renaming), "--rename-reference") == 0
    async with session_factory(engine)() as s:
        assert await s.scalar(select(Grid.name).where(Grid.code == "G1")) == "西城网格"
        assert await s.scalar(select(TransformerArea.name)) == "二号台区"


async def test_a_number_twice_in_one_file_rejects_both_rows_naming_both_lines(
    cli_db: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    f = tmp_path / "dup.csv"
    f.write_text(
        "number,name,category,account_number\n"
        "C1,张三,residential,AC1\n"  # line 2
        "C2,李四,residential,AC2\n"  # line 3: good
        "C1,张三丰,residential,AC9\n"  # line 4: C1 again
        "C1,张三,residential,AC1\n"  # line 5: and again
    )
    assert await cli("import", "customers", str(f)) == 3
    reasons = await _rejected(tmp_path, "dup")
    assert sorted(reasons) == ["2", "4", "5"]
    assert "number: C1 is on lines 2 and 4, 5 of this file" in reasons["2"]
    assert "number: C1 is on lines 4 and 2, 5" in reasons["4"]
    async with session_factory(engine)() as s:  # nothing silently overwritten, C2 imported
        assert list(await s.scalars(select(Customer.number))) == ["C2"]


async def test_a_meter_id_twice_in_one_file_is_rejected_on_both_lines(
    cli_db: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    f = tmp_path / "m.csv"
    f.write_text("meter_id,serial\nM-1,A\nM-2,B\nM-1,C\n")
    assert await cli("import", "meters", str(f)) == 3
    reasons = await _rejected(tmp_path, "m")
    assert sorted(reasons) == ["2", "4"]
    assert "meter_id: M-1 is on lines 2 and 4" in reasons["2"]
    assert await count(engine, Meter) == 1


@pytest.mark.parametrize(
    ("cell", "start"),
    [
        ('=HYPERLINK("http://x")', "'='"),
        ("+cmd|' /C calc'!A0", "'+'"),
        ("-2+3+cmd|' /C calc'!A0", "'-'"),
        ("@SUM(1+1)*cmd|' /C calc'!A0", "'@'"),
        ("\t=1+1", "'\\t'"),
        ("\r=1+1", "'\\r'"),
    ],
)
async def test_a_cell_a_spreadsheet_would_run_is_rejected(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, cell: str, start: str
) -> None:
    f = tmp_path / "f.csv"
    with f.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["number", "name", "category", "address"])
        w.writerow(["C1", "张三", "residential", cell])
        w.writerow(["C2", "李四", "residential", "西湖路1号"])
    assert await cli("import", "customers", str(f)) == 3
    reasons = await _rejected(tmp_path, "f")
    assert list(reasons) == ["2"]
    assert f"address: a cell may not start with {start}" in reasons["2"]
    assert await count(engine, Customer) == 1


async def test_a_nul_anywhere_in_a_cell_is_rejected(
    cli_db: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    f = tmp_path / "nul.csv"
    f.write_text("number,name,category\nC1,张\x00三,residential\nC2,李四,residential\n")
    assert await cli("import", "customers", str(f)) == 3
    assert "name: contains a NUL character" in (await _rejected(tmp_path, "nul"))["2"]
    assert await count(engine, Customer) == 1


async def test_phone_numbers_and_signed_numbers_are_data_not_formulas(
    cli_db: str, engine: AsyncEngine, tmp_path: Path
) -> None:
    f = tmp_path / "ok.csv"
    f.write_text(
        "number,name,category,phone,latitude,longitude\n"
        "C1,张三,residential,+86 138 0000 0000,-33.86,151.2\n"
    )
    assert await cli("import", "customers", str(f)) == 0
    async with session_factory(engine)() as s:
        c = await s.scalar(select(Customer).where(Customer.number == "C1"))
    assert c is not None
    assert c.phone == "+86 138 0000 0000"
    assert c.latitude == -33.86


async def _anchors(engine: AsyncEngine) -> dict[str, object]:
    async with session_factory(engine)() as s:
        return {a.number: a.cycle_start for a in await s.scalars(select(Account))}


async def test_the_tier_cycle_start_column_sets_the_accounts_annual_tier_start(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "customers.csv"
    f.write_text(
        "户号,户名,用电类别,账户号,年阶梯起始日\n"
        "C1,张三,居民生活,AC1,07-01\n"  # line 2: 年阶梯 from 1 July
        "C2,李四,居民生活,AC2,\n"  # line 3: none given
        "C3,王五,居民生活,AC3,02-29\n",  # line 4: a leap day is a day of the year
        encoding="utf-8",
    )
    assert await cli("import", "customers", str(f)) == 0
    assert "3 imported (3 new, 0 updated, 0 unchanged)" in capsys.readouterr().out
    assert await _anchors(engine) == {
        "AC1": date(2000, 7, 1), "AC2": None, "AC3": date(2000, 2, 29),
    }  # fmt: skip
    assert await cli("import", "customers", str(f)) == 0  # the same file again: nothing
    assert "3 imported (0 new, 0 updated, 3 unchanged)" in capsys.readouterr().out
    f.write_text(
        "户号,户名,用电类别,账户号,年阶梯起始日\n"
        "C1,张三,居民生活,AC1,\n"  # empty: left as it is
        "C2,李四,居民生活,AC2,01-15\n",  # set
        encoding="utf-8",
    )
    assert await cli("import", "customers", str(f)) == 0
    assert "2 imported (0 new, 1 updated, 1 unchanged)" in capsys.readouterr().out
    assert await _anchors(engine) == {
        "AC1": date(2000, 7, 1), "AC2": date(2000, 1, 15), "AC3": date(2000, 2, 29),
    }  # fmt: skip


async def test_a_bad_tier_cycle_start_is_a_row_error_naming_the_line_and_column(
    cli_db: str, engine: AsyncEngine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "customers.csv"
    f.write_text(
        "number,name,category,account_number,tier_cycle_start\n"
        "C1,A,residential,AC1,13-01\n"  # line 2: no 13th month
        "C2,B,residential,AC2,02-30\n"  # line 3: no 30 February
        "C3,C,residential,AC3,7/1\n"  # line 4: not MM-DD
        "C4,D,residential,,07-01\n"  # line 5: no account to start
        "C5,E,residential,AC5,07-01\n",  # line 6: good
        encoding="utf-8",
    )
    assert await cli("import", "customers", str(f)) == 3
    assert "5 rows read, 1 imported" in capsys.readouterr().out
    with (tmp_path / "customers.rejected.csv").open(encoding="utf-8") as fh:
        report = {r["line"]: r["reason"] for r in csv.DictReader(fh)}
    assert list(report) == ["2", "3", "4", "5"]
    assert all("tier_cycle_start" in reason for reason in report.values())
    assert "not a day of the year" in report["3"]
    assert "account_number" in report["5"]
    assert await _anchors(engine) == {"AC5": date(2000, 7, 1)}
