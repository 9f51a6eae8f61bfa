"""The operator's lists at a utility's size are answered from indexes: the plans SQLite makes
for them on the migrated schema (its planner is deterministic; on PostgreSQL the same indexes
exist, the migration tests compare both schemas with the models). Where PostgreSQL's planner
differs (it orders by an index's later column only after ``=`` on the earlier ones), the plan
it runs on a ledger of a month, with ``EXPLAIN ANALYZE``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Select

from backend.accounts.models import Account, AccountKind
from backend.db import session_factory
from backend.metering.consumption import chain_readings
from backend.metering.models import Meter
from backend.metering.service import offline_filters
from backend.prepaid.billing import missed_query
from backend.prepaid.bulk import last_live_ends, last_live_starts
from backend.prepaid.models import BillingState, Charge, EntryKind, LedgerEntry
from backend.prepaid.service import supply_on
from backend.prepaid.spend import live_ending
from backend.prepaid.sweep import window_charges
from tests.support.prepaid_data import make_account


def _plan(db: Path, stmt: Select[int]) -> str:
    compiled = stmt.compile(
        dialect=sqlite_dialect.dialect(), compile_kwargs={"literal_binds": True}
    )
    with sqlite3.connect(db) as conn:
        rows = conn.execute(f"EXPLAIN QUERY PLAN {compiled}").fetchall()
    return "\n".join(str(r[-1]) for r in rows)


@pytest.fixture
def db(_migrated_sqlite: Path) -> Path:
    return _migrated_sqlite


def test_the_offline_meters_are_counted_from_the_offline_index_alone(db: Path) -> None:
    plan = _plan(db, select(func.count()).select_from(Meter).where(*offline_filters(None)))
    assert "USING COVERING INDEX ix_meters_offline" in plan, plan


def _queue_count() -> Select[int]:
    """The disconnect queue's total, as ``prepaid.service.disconnect_queue`` counts it."""
    return select(func.count()).where(
        Account.kind == AccountKind.PREPAID,
        Account.balance_fen < -Account.credit_limit_fen,
        supply_on(),
    )


def test_the_disconnect_queue_reads_each_accounts_supply_from_the_meters_index(db: Path) -> None:
    plan = _plan(db, _queue_count())
    assert "USING COVERING INDEX ix_meters_account_supply" in plan, plan


def test_the_disconnect_queue_counts_only_the_accounts_past_their_credit(db: Path) -> None:
    """Not every prepaid account's index entry (a column against a column narrows no range):
    the partial index holds only those past their credit limit."""
    assert "USING COVERING INDEX ix_accounts_past_credit (kind=?)" in _plan(db, _queue_count())


def test_many_chains_readings_are_read_along_the_readings_key_without_a_sort(db: Path) -> None:
    """Consumption's and billing's reads of a round's chains (``consumption.chain_readings``):
    in the key's order, each chain's rows come together in time order from the primary key;
    in time order across chains SQLite sorted every row in a temporary B-tree."""
    after = {(1, "energy_import"): 0, (2, "energy_import"): 900_000, (2, "energy_export"): 5}
    plan = _plan(db, chain_readings("sqlite", after))
    assert "USING PRIMARY KEY (meter_pk=? AND quantity=? AND ts>?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_reversal_finds_its_entrys_charges_from_the_entry_index(db: Path) -> None:
    """``ledger.reverse`` and re-rating read and mark one entry's charges: by the entry's
    index, not by reading every charge of every account."""
    live = (Charge.entry_id == 42, Charge.reversed_at.is_(None))
    plan = _plan(db, select(Charge.id).where(*live))
    assert "USING INDEX ix_charges_entry (entry_id=?)" in plan, plan
    plan = _plan(db, select(Charge.id).where(Charge.entry_id.in_([1, 2, 3]), live[1]))
    assert "USING INDEX ix_charges_entry (entry_id=?)" in plan, plan


def test_an_accounts_newest_live_charge_is_one_descent_of_its_index(db: Path) -> None:
    """A billing round reads where each account's live charges end: by its index, newest
    first (a ``GROUP BY`` over the account's charges read every one it ever had)."""
    plan = _plan(db, last_live_starts("sqlite", [1, 2, 3]))
    assert "USING INDEX ix_charges_live_start (account_id=?)" in plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_meters_restart_point_is_read_backwards_from_its_bound(db: Path) -> None:
    """Where an appending meter's chain restarts: its account's live charges read backwards
    from the new reading, along the account's index, without a sort."""
    plan = _plan(db, last_live_ends("sqlite", [1, 2, 3], 1_700_000_000_000))
    assert (
        "USING INDEX ix_charges_live_start (account_id=? AND start_ms>? AND start_ms<?)" in plan
    ), plan
    assert "TEMP B-TREE" not in plan, plan


def test_the_spend_rates_charges_are_read_by_where_they_end(db: Path) -> None:
    """The charges ending in the spend window (the sweep's, for many accounts; the balance's,
    for one): a range of the account's index by end, not every charge the account ever had
    (by start, the account's index bounds nothing: a charge may start long before it ends)."""
    ranged = "ix_charges_live_end (account_id=? AND end_ms>? AND end_ms<?)"
    plan = _plan(db, window_charges("sqlite", [1, 2, 3], 1_700_000_000_000, 1_700_600_000_000))
    assert f"USING INDEX {ranged}" in plan, plan
    one = select(Charge.start_ms, Charge.end_ms, Charge.exact_cny).where(
        Charge.account_id == 7, *live_ending(1_700_000_000_000, 1_700_600_000_000)
    )
    assert f"USING INDEX {ranged}" in _plan(db, one)


def test_the_sweeps_catch_up_probes_each_meters_readings_by_their_primary_key(db: Path) -> None:
    """``billing.missed``: each meter's unbilled readings, a range of the readings' primary key
    (as the PostgreSQL test below measures), never a scan of the window's readings."""
    plan = _plan(db, missed_query(1_700_000_000_000))
    lines = [line for line in plan.splitlines() if "readings" in line]
    assert lines, plan
    assert all(
        line == "SEARCH readings USING PRIMARY KEY (meter_pk=? AND quantity=? AND ts>?)"
        for line in lines
    ), plan


QUARTER_MS = 900_000


async def _month_of_charges(engine: AsyncEngine) -> tuple[int, int]:
    """An account (and its meter) with 3,000 quarter-hour charges, every tenth reversed."""
    async with session_factory(engine)() as s:
        _, account, meter = await make_account(s)
        entry = LedgerEntry(
            account_id=account.id, kind=EntryKind.CONSUMPTION_CHARGE, amount_fen=0,
            balance_after_fen=0, actor="billing",
        )  # fmt: skip
        s.add(entry)
        await s.flush()
        await s.execute(
            text(
                "INSERT INTO charges (account_id, meter_pk, start_ms, end_ms, wh, exact_cny,"
                " lines, entry_id, reversed_at, created_at)"
                " SELECT :a, :m, g * CAST(:q AS bigint), (g + 1) * CAST(:q AS bigint), 100,"
                " '0.05', '[]', :e, CASE WHEN g % 10 = 0 THEN now() END, now()"
                " FROM generate_series(1, 3000) g"
            ),
            {"a": account.id, "m": meter.id, "e": entry.id, "q": QUARTER_MS},
        )
        await s.commit()
        return account.id, meter.id


async def _explained(conn: AsyncConnection, stmt: Select[Any]) -> tuple[list[Any], dict[str, Any]]:
    """The rows and the plan PostgreSQL ran (``EXPLAIN ANALYZE``) for ``stmt``."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or []]
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    rows = await driver.fetch(str(compiled), *params)
    explained = await driver.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {compiled}", *params)
    return [tuple(r) for r in rows], explained[0]["Plan"]  # decoded by the json codec


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _charge_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in _nodes(plan) if n.get("Relation Name") == "charges"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_an_accounts_newest_live_charge_is_the_last_entry_of_its_index(
    engine: AsyncEngine,
) -> None:
    """A billing round's reads of an account's newest live charge (its restart bound) and of a
    meter's last charge before a new reading, on a month of quarter hours: each reads one live
    entry backwards from the end of the partial index. On an index with ``reversed_at`` among
    its columns PostgreSQL read every live charge of the account (the soak's busiest
    statement, slower as the ledger grew)."""
    account_id, meter_pk = await _month_of_charges(engine)
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE charges"))
        rows, plan = await _explained(conn, last_live_starts("postgresql", [account_id]))
        assert rows == [(account_id, 2999 * QUARTER_MS)]  # 3,000 is a tenth: reversed
        [scan] = _charge_scans(plan)
        assert (scan["Index Name"], scan["Scan Direction"]) == ("ix_charges_live_start", "Backward")
        assert scan["Actual Rows"] == 1, plan

        # a new reading at the end of the 2,000th, reversed: the last live charge before it
        # is the 1,999th, which ends where the 2,000th starts
        bound = 2001 * QUARTER_MS
        rows, plan = await _explained(conn, last_live_ends("postgresql", [meter_pk], bound))
        assert rows == [(meter_pk, 2000 * QUARTER_MS)]
        [scan] = _charge_scans(plan)
        assert (scan["Index Name"], scan["Scan Direction"]) == ("ix_charges_live_start", "Backward")
        assert scan["Actual Rows"] <= 2, plan


def _reading_scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [n for n in _nodes(plan) if str(n.get("Relation Name", "")).startswith("readings")]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_on_postgresql_the_sweeps_catch_up_reads_only_each_meters_unbilled_readings(
    engine: AsyncEngine,
) -> None:
    """The sweep's billing catch-up (``billing.missed``) on 8 meters with two days of quarter
    hours each, billed through all but the last two of 6 of them (2 never billed): each meter is
    one probe of the readings' primary key past its account's billed_through, reading its few
    unbilled readings — not every reading of the window grouped by meter (a million meters'
    two days are 190 million rows each sweep)."""
    async with session_factory(engine)() as s:
        made = [await make_account(s) for _ in range(8)]
        await s.commit()
        day = 96
        for _, _, meter in made:
            await s.execute(
                text(
                    "INSERT INTO readings (meter_pk, quantity, ts, value, quality, source,"
                    " received_at) SELECT :m, 'energy_import', g * CAST(:q AS bigint), g * 10,"
                    " 'good', 'ami', 0 FROM generate_series(1, :n) g"
                ),
                {"m": meter.id, "q": QUARTER_MS, "n": 2 * day},
            )
        for _, account, _ in made[:6]:
            s.add(BillingState(account_id=account.id, billed_through_ms=(2 * day - 2) * QUARTER_MS))
        await s.commit()
    async with engine.connect() as conn:
        await conn.execute(text("ANALYZE readings"))
        rows, plan = await _explained(conn, missed_query(0))
    ends = {m.id: (2 * day - 1) * QUARTER_MS for _, _, m in made[:6]}
    ends |= {m.id: QUARTER_MS for _, _, m in made[6:]}  # never billed: from the first
    assert sorted(rows) == sorted((m, lo, 2 * day * QUARTER_MS) for m, lo in ends.items())
    scans = _reading_scans(plan)
    assert scans, plan
    assert all("Index" in n["Node Type"] for n in scans), plan
    read = sum(n["Actual Rows"] * n["Actual Loops"] for n in scans)
    # the unbilled readings, twice or so (the earliest and the latest each take a probe):
    # 6 meters × 2, 2 never billed × 192 — not 8 × 192 = 1,536
    assert read <= 3 * (6 * 2 + 2 * 2 * day), plan
