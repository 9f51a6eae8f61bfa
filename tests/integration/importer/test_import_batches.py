"""`meterline import` in chunks: a handful of statements per chunk, the same rules row by row."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, AccountKind, Customer
from backend.cli import main
from backend.db import session_factory
from backend.field.grids.models import Grid, TransformerArea
from backend.importer.service import ImportReport, import_file
from backend.metering.models import Meter, MeterStatus


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements sent to the database meanwhile (an executemany counts once)."""
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def customers_csv(path: Path, n: int, start: int = 0) -> Path:
    lines = ["number,name,category,grid_code,grid_name,area_code,area_name,account_number"]
    lines += [
        f"C{i:06d},客户{i},residential,G{i // 500},网格{i // 500},"
        f"TA{i // 50},台区{i // 50},A{i:06d}"
        for i in range(start, start + n)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def run(
    engine: AsyncEngine, kind: str, path: Path, **kwargs: Any
) -> tuple[ImportReport, list[str]]:
    with statements(engine) as sent:
        report = await import_file(session_factory(engine), kind, path, **kwargs)
    return report, sent


async def test_thousands_of_rows_take_a_few_statements_per_chunk_and_a_rerun_writes_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    f = customers_csv(tmp_path / "c.csv", 2500)
    report, sent = await run(engine, "customers", f, chunk_rows=1000)
    assert (report.rows, report.created, report.rejected) == (2500, 2500, [])
    # per chunk: grids, areas, customers, accounts looked up; grids, areas, customers, accounts
    # written (insertmanyvalues may split a large INSERT … RETURNING in pages of 1,000)
    assert len(sent) <= 3 * 12, sent
    async with session_factory(engine)() as s:
        assert await s.scalar(select(Account.kind).where(Account.number == "A002499")) == (
            AccountKind.POSTPAID
        )
        assert len(list(await s.scalars(select(Grid.id)))) == 5
        assert len(list(await s.scalars(select(TransformerArea.id)))) == 50
    again, sent = await run(engine, "customers", f, chunk_rows=1000)
    assert (again.unchanged, again.created, again.updated) == (2500, 0, 0)
    writes = [s for s in sent if not s.lstrip().upper().startswith(("SELECT", "BEGIN"))]
    assert writes == []


async def test_meters_take_a_few_statements_per_chunk(engine: AsyncEngine, tmp_path: Path) -> None:
    await run(engine, "customers", customers_csv(tmp_path / "c.csv", 1200))
    m = tmp_path / "m.csv"
    m.write_text(
        "meter_id,customer_number,agent_id\n"
        + "".join(f"M{i:06d},C{i:06d},agent-{i // 100}\n" for i in range(1200))
    )
    report, sent = await run(engine, "meters", m, chunk_rows=600)
    assert (report.created, report.rejected) == (1200, [])
    assert len(sent) <= 2 * 10, sent
    async with session_factory(engine)() as s:
        meter = await s.scalar(select(Meter).where(Meter.meter_id == "M001199"))
        account = await s.scalar(select(Account.id).where(Account.number == "A001199"))
    assert meter is not None
    assert meter.account_id == account  # the customer's only account
    assert meter.agent_id == "agent-11"


BAD_ROWS = (
    "户号,户名,用电类别,电话,账户号,账户类型\n"
    "C1,张三,居民生活,1380000,AC1,预付费\n"  # line 2: good
    "C2,,residential,,,\n"  # line 3: no name
    "C3,李四,residential,,AC3,\n"  # line 4: good
    "C4,王五,nuclear,,,\n"  # line 5: unknown category
    "C5,赵六,residential,,AC1,postpaid\n"  # line 6: AC1 belongs to C1 (an earlier chunk)
    "C6,孙七,residential,,AC6,\n"  # line 7: good
    "C7,周八,residential,,AC6,\n"  # line 8: AC6 went to C6 on the line before
)


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 1000])
async def test_the_same_rows_are_refused_whatever_the_chunk_boundaries(
    engine: AsyncEngine, tmp_path: Path, chunk_rows: int
) -> None:
    f = tmp_path / "c.csv"
    f.write_text(BAD_ROWS, encoding="utf-8")
    report, _ = await run(engine, "customers", f, chunk_rows=chunk_rows)
    assert [r.line for r in report.rejected] == [3, 5, 6, 8]
    assert "account_number: AC1 belongs to another customer" in report.rejected[2].reason
    assert "account_number: AC6 belongs to another customer" in report.rejected[3].reason
    assert report.created == 3
    async with session_factory(engine)() as s:
        owners = (await s.execute(select(Account.number, Customer.number).join(Customer))).all()
    assert sorted(map(tuple, owners)) == [("AC1", "C1"), ("AC3", "C3"), ("AC6", "C6")]


@pytest.mark.parametrize("chunk_rows", [1, 1000])
async def test_grid_names_follow_the_rows_in_order_within_a_chunk(
    engine: AsyncEngine, tmp_path: Path, chunk_rows: int
) -> None:
    f = tmp_path / "g.csv"
    f.write_text(
        "number,name,category,grid_code,grid_name,area_code,area_name\n"
        "C1,张三,residential,G1,东城网格,TA1,一号台区\n"  # line 2: creates G1 and TA1
        "C2,李四,residential,G1,西城网格,TA1,\n"  # line 3: another name for G1
        "C3,王五,residential,G1,南城网格,TA1,二号台区\n"  # line 4: and another, and for TA1
    )
    report, _ = await run(engine, "customers", f, chunk_rows=chunk_rows)
    assert [r.line for r in report.rejected] == [3, 4]
    async with session_factory(engine)() as s:
        assert await s.scalar(select(Grid.name)) == "东城网格"
    report, _ = await run(engine, "customers", f, chunk_rows=chunk_rows, rename_reference=True)
    assert report.rejected == []
    async with session_factory(engine)() as s:  # the last row naming one wins
        assert await s.scalar(select(Grid.name)) == "南城网格"
        assert await s.scalar(select(TransformerArea.name)) == "二号台区"
        grid_id = await s.scalar(select(Grid.id))
        assert set(await s.scalars(select(Customer.grid_id))) == {grid_id}


async def test_a_replacement_of_a_meter_created_in_the_same_chunk_ends_its_chain(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await run(engine, "customers", customers_csv(tmp_path / "c.csv", 2))
    m = tmp_path / "m.csv"
    m.write_text(
        "meter_id,customer_number,installed_on,replaces,status\n"
        "M-A,C000000,2024-01-01,,\n"  # new in this chunk
        "M-B,C000000,2026-03-02,M-A,\n"  # replaces it: M-A ends at local midnight
        "M-C,C000001,2024-01-01,,\n"
        "M-D,C000001,2026-03-02,M-C,\n"  # replaces M-C …
        "M-C,C000001,2024-01-01,,active\n"  # … which a later line names again: a duplicate
    )
    report, _ = await run(engine, "meters", m)
    assert [r.line for r in report.rejected] == [4, 5, 6]  # M-C twice: both lines refused
    assert "replaces: no other meter M-C" in report.rejected[1].reason  # so M-D has no M-C
    assert report.created == 2
    async with session_factory(engine)() as s:
        old = await s.scalar(select(Meter).where(Meter.meter_id == "M-A"))
        new = await s.scalar(select(Meter).where(Meter.meter_id == "M-B"))
        d = await s.scalar(select(Meter).where(Meter.meter_id == "M-D"))
    assert old is not None
    assert new is not None
    assert old.status == MeterStatus.REMOVED
    assert old.removed_at is not None
    assert old.removed_at.isoformat() == "2026-03-01T16:00:00+00:00"
    assert new.replaces_meter_id == old.id
    assert d is None


async def test_a_meter_named_again_after_its_replacement_in_one_chunk_takes_the_later_row(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await run(engine, "customers", customers_csv(tmp_path / "c.csv", 1))
    first = tmp_path / "first.csv"
    first.write_text("meter_id,customer_number\nM-A,C000000\n")
    await run(engine, "meters", first)
    m = tmp_path / "m.csv"
    m.write_text(
        "meter_id,customer_number,installed_on,replaces,status,protocol\n"
        "M-B,C000000,2026-03-02,M-A,,\n"  # M-A removed
        "M-A,C000000,,,pending,modbus\n"  # then the file says M-A is pending: in file order
    )
    report, _ = await run(engine, "meters", m)
    assert report.rejected == []
    assert (report.created, report.updated) == (1, 1)
    async with session_factory(engine)() as s:
        a = await s.scalar(select(Meter).where(Meter.meter_id == "M-A"))
    assert a is not None
    assert (a.status, a.protocol) == (MeterStatus.PENDING, "modbus")


async def refuse_name(engine: AsyncEngine, name: str) -> None:
    """A rule the importer does not know: the database refuses a customer by this name."""
    async with engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON customers "
                    f"WHEN NEW.name = '{name}' BEGIN SELECT RAISE(ABORT, 'refused here'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF NEW.name = '{name}' THEN RAISE EXCEPTION 'refused here'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON customers "
                    "FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )


async def test_a_row_the_database_refuses_is_reported_and_the_rest_of_its_chunk_lands(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    await refuse_name(engine, "客户2")
    f = customers_csv(tmp_path / "c.csv", 5)
    report, _ = await run(engine, "customers", f, chunk_rows=1000)
    assert [r.line for r in report.rejected] == [4]
    assert "refused here" in report.rejected[0].reason
    assert report.created == 4
    async with session_factory(engine)() as s:
        numbers = list(await s.scalars(select(Customer.number).order_by(Customer.number)))
        accounts = list(await s.scalars(select(Account.number).order_by(Account.number)))
    assert numbers == ["C000000", "C000001", "C000003", "C000004"]
    assert accounts == ["A000000", "A000001", "A000003", "A000004"]
    more = customers_csv(tmp_path / "more.csv", 3, start=5)  # the next file: batched again
    report, sent = await run(engine, "customers", more, chunk_rows=1000)
    assert report.created == 3
    assert len(sent) <= 12


async def test_progress_counts_every_row_read_rejected_or_not(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    f = tmp_path / "c.csv"
    f.write_text(BAD_ROWS, encoding="utf-8")
    seen: list[int] = []
    await import_file(session_factory(engine), "customers", f, progress=seen.append, chunk_rows=2)
    assert sum(seen) == 7
    assert len(seen) > 1  # it moves while the file is read, not only at the end


async def test_a_gbk_file_imports_with_its_encoding_named_and_is_refused_without(
    database_url: str,
    engine: AsyncEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("METERLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("METERLINE_DATA_DIR", str(tmp_path))
    f = tmp_path / "gbk.csv"
    f.write_bytes(
        "户号,户名,用电类别,网格编码,网格名称\nC1,张三,居民生活,G1,东城网格\n".encode("gbk")
    )
    cli = ["import", "customers", str(f), "--no-progress"]
    assert await asyncio.to_thread(main, cli) == 2
    assert "line 1" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*cli, "--encoding", "gbk"]) == 0
    async with session_factory(engine)() as s:
        assert await s.scalar(select(Customer.name)) == "张三"
        assert await s.scalar(select(Grid.name)) == "东城网格"
