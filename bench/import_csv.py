"""CSV import benchmark: `meterline import customers|meters` on SQLite and PostgreSQL.

    .venv/bin/python bench/import_csv.py                   # 200,000 customers and meters
    .venv/bin/python bench/import_csv.py --rows 20000      # a smaller run
    .venv/bin/python bench/import_csv.py --only sqlite

For each database a fresh, migrated database receives N synthetic customers (each with an
account, in grids of 5,000 and transformer areas of 200; the CSV carries every column) and then
N meters (one per customer, 1,000 per agent, half naming the account, half left to the
customer's only account), through ``import_file`` exactly as the command line runs it (reading,
validation, duplicate check, upsert, report). Then the customer file is imported again: every
row must come back ``unchanged`` (idempotent re-run).

Baseline, measured in the same run on a second fresh database: the same customer and meter rows,
already parsed, written with a plain ``executemany`` INSERT through the same driver in chunks of
the same size, one commit per chunk: what the database and driver cost on their own. The ratio
``import / executemany`` says how much of the database's own insert rate the import keeps, after
reading and checking the file. Goal: ≥ 5,000 rows/s for customers and for meters.

PostgreSQL is a throwaway cluster started like the tests' (initdb, pg_ctl), with fsync and
synchronous_commit turned on (the test cluster runs without them).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from backend import migrate  # noqa: E402
from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory  # noqa: E402
from backend.db import create_engine, session_factory  # noqa: E402
from backend.field.grids.models import Grid, TransformerArea  # noqa: E402
from backend.importer.service import CHUNK_ROWS, import_file  # noqa: E402
from backend.metering.models import Agent, Meter  # noqa: E402
from tests.support.services import start_postgres  # noqa: E402

GOAL = 5000  # rows/s
CATEGORIES = list(CustomerCategory)

CUSTOMER_HEADER = [
    "number", "name", "category", "phone", "address", "latitude", "longitude", "grid_code",
    "grid_name", "area_code", "area_name", "protected", "key_account_class", "account_number",
    "account_kind",
]  # fmt: skip
METER_HEADER = [
    "meter_id", "serial", "protocol", "address", "agent_id", "customer_number", "account_number",
    "status", "installed_on", "expires_on", "latitude", "longitude",
]  # fmt: skip


def customer_rows(n: int) -> Iterator[list[str]]:
    for i in range(n):
        yield [
            f"31{i:08d}", f"客户{i}", CATEGORIES[i % len(CATEGORIES)].value, f"138{i:08d}",
            f"和平路{i}号", f"{30 + i % 1000 / 1000:.4f}", f"{120 + i % 997 / 1000:.4f}",
            f"G{i // 5000:03d}", f"网格{i // 5000}", f"TA{i // 200:05d}", f"台区{i // 200}",
            "true" if i % 500 == 0 else "false", "1" if i % 500 == 0 else "",
            f"A31{i:08d}", "prepaid" if i % 3 else "postpaid",
        ]  # fmt: skip


def meter_rows(n: int) -> Iterator[list[str]]:
    for i in range(n):
        yield [
            f"M{i:010d}", f"1100{i:012d}", "dlt645" if i % 4 else "modbus", f"{i:012d}",
            f"agent-{i // 1000:04d}", f"31{i:08d}", f"A31{i:08d}" if i % 2 else "", "active",
            "2024-05-10", "2032-05-10",
            f"{30 + i % 1000 / 1000:.4f}", f"{120 + i % 997 / 1000:.4f}",
        ]  # fmt: skip


def write_csv(path: Path, header: list[str], rows: Iterator[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


@dataclass
class Result:
    database: str
    what: str
    rows: int
    seconds: float
    cpu_seconds: float  # our process (with SQLite's writer thread; not PostgreSQL's backend)
    baseline_seconds: float | None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    @property
    def ratio(self) -> str:
        if self.baseline_seconds is None:
            return ""
        return f"{self.rate / (self.rows / self.baseline_seconds):.2f}"


async def timed(coro: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = await coro
    return out, time.perf_counter() - t


CPU: dict[tuple[str, str], float] = {}  # (database, what) → our process's CPU seconds


async def run_import(url: str, kind: str, path: Path) -> tuple[int, int, float]:
    """(rows imported, rows unchanged, seconds)."""
    engine = create_engine(url)
    cpu = time.process_time()
    try:
        report, seconds = await timed(import_file(session_factory(engine), kind, path))
    finally:
        await engine.dispose()
    CPU[(url, kind)] = time.process_time() - cpu
    assert not report.rejected, report.rejected[:3]
    return report.imported, report.unchanged, seconds


async def executemany(
    engine: AsyncEngine, model: Any, params: list[dict[str, Any]], chunk: int = CHUNK_ROWS
) -> float:
    t = time.perf_counter()
    for i in range(0, len(params), chunk):
        async with engine.begin() as conn:
            await conn.execute(insert(model), params[i : i + chunk])
    return time.perf_counter() - t


async def baseline(url: str, n: int) -> tuple[float, float]:
    """Seconds for a plain executemany INSERT of the customers (and accounts), then the meters."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(Grid),
                [{"code": f"G{g:03d}", "name": f"网格{g}"} for g in range(n // 5000 + 1)],
            )
            grids = dict((await conn.execute(select(Grid.code, Grid.id))).all())
            await conn.execute(
                insert(TransformerArea),
                [
                    {
                        "code": f"TA{a:05d}",
                        "name": f"台区{a}",
                        "grid_id": grids[f"G{a * 200 // 5000:03d}"],
                    }
                    for a in range(n // 200 + 1)
                ],
            )
            areas = dict(
                (await conn.execute(select(TransformerArea.code, TransformerArea.id))).all()
            )
            await conn.execute(
                insert(Agent),
                [{"id": f"agent-{a:04d}", "online": False} for a in range(n // 1000 + 1)],
            )
        customers = [
            {
                "number": r[0],
                "name": r[1],
                "category": CustomerCategory(r[2]),
                "phone": r[3],
                "address": r[4],
                "latitude": float(r[5]),
                "longitude": float(r[6]),
                "grid_id": grids[r[7]],
                "transformer_area_id": areas[r[9]],
                "protected": r[11] == "true",
                "key_account_class": int(r[12]) if r[12] else None,
            }
            for r in customer_rows(n)
        ]
        seconds = await executemany(engine, Customer, customers)
        async with engine.connect() as conn:
            ids = dict((await conn.execute(select(Customer.number, Customer.id))).all())
        accounts = [
            {"number": r[13], "customer_id": ids[r[0]], "kind": AccountKind(r[14])}
            for r in customer_rows(n)
        ]
        seconds += await executemany(engine, Account, accounts)
        async with engine.connect() as conn:
            account_ids = dict((await conn.execute(select(Account.number, Account.id))).all())
        meters = [
            {
                "meter_id": r[0],
                "serial": r[1],
                "protocol": r[2],
                "address": r[3],
                "agent_id": r[4],
                "customer_id": ids[r[5]],
                "account_id": account_ids[f"A{r[5]}"],
                "status": r[7],
                "installed_on": date.fromisoformat(r[8]),
                "expires_on": date.fromisoformat(r[9]),
                "latitude": float(r[10]),
                "longitude": float(r[11]),
            }
            for r in meter_rows(n)
        ]
        meter_seconds = await executemany(engine, Meter, meters)
    finally:
        await engine.dispose()
    return seconds, meter_seconds


async def bench(database: str, fresh: Callable[[], str], n: int, files: Path) -> list[Result]:
    url = fresh()
    print(f"{database}: importing {n:,} customers …", flush=True)
    imported, _, c_s = await run_import(url, "customers", files / "customers.csv")
    c_cpu = CPU[(url, "customers")]
    assert imported == n
    print(f"{database}: importing {n:,} meters …", flush=True)
    imported, _, m_s = await run_import(url, "meters", files / "meters.csv")
    m_cpu = CPU[(url, "meters")]
    assert imported == n
    print(f"{database}: importing the customers again …", flush=True)
    _, unchanged, again_s = await run_import(url, "customers", files / "customers.csv")
    again_cpu = CPU[(url, "customers")]
    assert unchanged == n, f"a re-run changed {n - unchanged} rows"
    print(f"{database}: executemany baseline …", flush=True)
    base_c, base_m = await baseline(fresh(), n)
    return [
        Result(database, "customers (new)", n, c_s, c_cpu, base_c),
        Result(database, "meters (new)", n, m_s, m_cpu, base_m),
        Result(database, "customers (re-run)", n, again_s, again_cpu, None),
    ]


def table(results: list[Result]) -> str:
    lines = [
        f"  {'database':<11}{'import':<20}{'rows':>9}{'s':>8}{'rows/s':>9}{'CPU s':>7}"
        f"{'import/executemany':>20}  goal",
    ]
    for r in results:
        goal = "" if r.baseline_seconds is None else (
            f"{'met' if r.rate >= GOAL else 'missed'}: ≥{GOAL:,} rows/s"
        )  # fmt: skip
        lines.append(
            f"  {r.database:<11}{r.what:<20}{r.rows:>9,}{r.seconds:>8.1f}{r.rate:>9,.0f}"
            f"{r.cpu_seconds:>7.1f}{r.ratio:>20}  {goal}"
        )
    base = [
        f"  {r.database:<11}{r.what.split()[0]:<20}{r.rows / r.baseline_seconds:>9,.0f} rows/s"
        for r in results
        if r.baseline_seconds
    ]
    return "\n".join([*lines, "", "plain executemany INSERT of the same rows (baseline):", *base])


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=200_000)
    p.add_argument("--only", choices=["sqlite", "postgresql"])
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="meterline-bench-import-"))
    write_csv(tmp / "customers.csv", CUSTOMER_HEADER, customer_rows(args.rows))
    write_csv(tmp / "meters.csv", METER_HEADER, meter_rows(args.rows))
    results: list[Result] = []
    try:
        if args.only in (None, "sqlite"):
            template = tmp / "template.db"
            migrate.upgrade(f"sqlite+aiosqlite:///{template}")
            counter = iter(range(100))

            def fresh_sqlite() -> str:
                path = tmp / f"bench{next(counter)}.db"
                shutil.copy(template, path)
                return f"sqlite+aiosqlite:///{path}"

            results += await bench("sqlite", fresh_sqlite, args.rows, tmp)
        if args.only in (None, "postgresql"):
            pg = start_postgres(durable=True)
            try:
                pg.psql("CREATE DATABASE bench_template")
                migrate.upgrade(pg.url("bench_template"))
                names = iter(range(100))

                def fresh_pg() -> str:
                    name = f"bench{next(names)}"
                    pg.psql(f"CREATE DATABASE {name} TEMPLATE bench_template")
                    return pg.url(name)

                results += await bench("postgresql", fresh_pg, args.rows, tmp)
            finally:
                pg.stop()
                shutil.rmtree(pg.directory, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n`meterline import` of {args.rows:,} rows (chunks of {CHUNK_ROWS:,}):")
    print(table(results))


if __name__ == "__main__":
    asyncio.run(main())
