"""The incremental prepaid sweep at a utility's size, on SQLite, while staff log in.

    .venv/bin/python bench/prepaid_sweep.py                  # 200,000 accounts, a few minutes
    .venv/bin/python bench/prepaid_sweep.py --accounts 20000

Seeds in bulk (Core INSERTs) a migrated SQLite database with N prepaid customers, each with one
meter (relay on), one ledger entry and one consumption charge ending an hour ago (so days-left
has a rate): 10 % in arrears, 5 % low, the rest healthy. Then, against the API served by uvicorn
on a real socket in the same process, with a staff user logging in over and over meanwhile:

1. the first sweep (every account is queued, as after the upgrade to the incremental sweep);
2. a sweep after 1 % of the accounts changed (top-ups posted to the ledger: a healthy account's
   top-up queues nothing);
3. a sweep with nothing changed;
4. a sweep after a billing round changed every balance (each account charged 1 fen): only the
   accounts below their watch line are queued — the low ones and those in arrears, and the
   healthy ones whose charge crossed their line (``backend.prepaid.sweep.watch_line``);
5. the same again with every watch line cleared first: the sweep as it was before the lines,
   when every change of a balance queued its account (the baseline, measured in the same run).

Reported per run: seconds, accounts examined, transactions and the longest, and the login
latency meanwhile (p50, p99, max), against the login latency with no sweep running, measured
in the same run. Logins hash passwords with the production Argon2 parameters.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import insert, select, update  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from backend import migrate  # noqa: E402
from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory  # noqa: E402
from backend.auth.models import Role, User  # noqa: E402
from backend.auth.passwords import hash_password  # noqa: E402
from backend.db import create_engine, session_factory  # noqa: E402
from backend.metering.models import Agent, Meter  # noqa: E402
from backend.prepaid import ledger, sweep  # noqa: E402
from backend.prepaid.models import Charge, EntryKind, LedgerEntry  # noqa: E402
from backend.server import make_server  # noqa: E402
from backend.settings import load_settings  # noqa: E402
from tests.support.e2e import true_if, until  # noqa: E402
from tests.support.services import free_port  # noqa: E402

PASSWORD = "bench only password 2026"
# Wednesday 2026-05-13, 10:00 local: a working day, inside the disconnect window
NOW = datetime(2026, 5, 13, 10, tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)
CHUNK = 5000


def balance_of(i: int) -> int:
    if i % 20 < 2:
        return -1_500  # 10 % in arrears
    if i % 20 == 2:
        return 1_000  # 5 % low
    return 50_000 + i % 1000


async def seed(engine: AsyncEngine, n: int) -> None:
    now_ms = int(NOW.timestamp() * 1000)
    async with engine.begin() as conn:
        await conn.execute(insert(Agent), [{"id": "agent-1", "online": True}])
        await conn.execute(
            insert(User),
            [{"username": "op", "role": Role.OPERATOR, "password_hash": hash_password(PASSWORD)}],
        )
    for lo in range(0, n, CHUNK):
        span = range(lo, min(n, lo + CHUNK))
        async with engine.begin() as conn:
            await conn.execute(
                insert(Customer),
                [
                    {"number": f"B{i:07d}", "name": f"客户{i}", "phone": f"139{i:08d}",
                     "category": CustomerCategory.RESIDENTIAL}
                    for i in span
                ],
            )  # fmt: skip
            customers = dict(
                (await conn.execute(
                    select(Customer.number, Customer.id).where(Customer.number >= f"B{lo:07d}")
                )).all()
            )  # fmt: skip
            await conn.execute(
                insert(Account),
                [
                    {"number": f"BA{i:07d}", "customer_id": customers[f"B{i:07d}"],
                     "kind": AccountKind.PREPAID, "balance_fen": balance_of(i)}
                    for i in span
                ],
            )  # fmt: skip
            accounts = dict(
                (await conn.execute(
                    select(Account.number, Account.id).where(Account.number >= f"BA{lo:07d}")
                )).all()
            )  # fmt: skip
            await conn.execute(
                insert(Meter),
                [
                    {"meter_id": f"BM{i:07d}", "customer_id": customers[f"B{i:07d}"],
                     "account_id": accounts[f"BA{i:07d}"], "agent_id": "agent-1",
                     "relay_state": 1, "protocol": "dlt645"}
                    for i in span
                ],
            )  # fmt: skip
            meters = dict(
                (await conn.execute(
                    select(Meter.meter_id, Meter.id).where(Meter.meter_id >= f"BM{lo:07d}")
                )).all()
            )  # fmt: skip
            entries = (
                await conn.execute(
                    insert(LedgerEntry).returning(LedgerEntry.id, LedgerEntry.account_id),
                    [
                        {"account_id": accounts[f"BA{i:07d}"],
                         "kind": EntryKind.CONSUMPTION_CHARGE, "amount_fen": -300,
                         "balance_after_fen": balance_of(i), "exact_cny": "-3.00",
                         "actor": "bench", "created_at": NOW}
                        for i in span
                    ],
                )
            ).all()  # fmt: skip
            entry_of = {account: entry for entry, account in entries}
            await conn.execute(
                insert(Charge),
                [
                    {"account_id": accounts[f"BA{i:07d}"], "meter_pk": meters[f"BM{i:07d}"],
                     "start_ms": now_ms - 25 * 3_600_000, "end_ms": now_ms - 3_600_000,
                     "wh": 5_000, "exact_cny": "3.00", "lines": "[]",
                     "entry_id": entry_of[accounts[f"BA{i:07d}"]]}
                    for i in span
                ],
            )  # fmt: skip
        print(f"\rseeded {span[-1] + 1:,} accounts", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


async def logins(client: httpx.AsyncClient, until: asyncio.Event) -> list[float]:
    took: list[float] = []
    while not until.is_set():
        t = time.perf_counter()
        r = await client.post("/api/auth/login", json={"username": "op", "password": PASSWORD})
        took.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
    return took


def pcts(took: list[float]) -> str:
    if not took:
        return "no login finished"
    q = statistics.quantiles(took, n=100, method="inclusive") if len(took) > 1 else [took[0]] * 99
    return (
        f"{len(took):>5} logins, p50 {q[49] * 1000:>6.0f} ms, p99 {q[98] * 1000:>6.0f} ms, "
        f"max {max(took) * 1000:>6.0f} ms"
    )


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--accounts", type=int, default=200_000)
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="meterline-bench-sweep-"))
    url = f"sqlite+aiosqlite:///{tmp / 'sweep.db'}"
    migrate.upgrade(url)
    engine = create_engine(url)
    t = time.perf_counter()
    await seed(engine, args.accounts)
    print(f"seeded {args.accounts:,} accounts in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    settings = load_settings(
        env={}, database_url=url, data_dir=str(tmp), ingest=False, prepaid_sweep_seconds=0,
        prepaid_notify_seconds=0, idempotency_purge_hours=0, http_port=free_port(),
        log_level="WARNING", auth_require_totp=False,
    )  # fmt: skip
    server = make_server(settings)
    serving = asyncio.create_task(server.serve())
    await until(lambda: true_if(server.started), "the API to start", 60)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per login otherwise
    sessions = session_factory(engine)
    lines = []
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.http_port}", timeout=60
        ) as client:
            stop = asyncio.Event()
            quiet = asyncio.create_task(logins(client, stop))
            await asyncio.sleep(10)
            stop.set()
            lines.append(f"  no sweep running:{'':>40}{pcts(await quiet)}")

            async def measured(what: str, at: datetime) -> None:
                stop = asyncio.Event()
                during = asyncio.create_task(logins(client, stop))
                result = await sweep.run(sessions, settings, at)
                stop.set()
                lines.append(
                    f"  {what:<18}{result.seconds:>7.1f} s {result.examined:>7,} examined "
                    f"{result.batches:>5} tx, longest {result.longest_batch_s:>5.2f} s; "
                    + pcts(await during)
                )
                print(lines[-1], file=sys.stderr)

            await measured("first (all queued)", NOW)
            async with sessions() as s:
                ids = list(await s.scalars(select(Account.id).where(Account.id % 100 == 7)))
                for account_id in ids:
                    await ledger.post(
                        s, account_id, EntryKind.TOP_UP, 2_000, actor="bench", memo="counter"
                    )
                await s.commit()
            await measured(f"{len(ids):,} changed", NOW + timedelta(minutes=5))
            await measured("nothing changed", NOW + timedelta(minutes=10))
            async with sessions() as s:  # what a billing round does to the balances
                await s.execute(update(Account).values(balance_fen=Account.balance_fen - 1))
                await s.commit()
            await measured(f"{args.accounts:,} billed", NOW + timedelta(minutes=15))
            async with sessions() as s:  # the same without watch lines: as before them
                await s.execute(update(Account).values(sweep_watch_fen=None))
                await s.execute(update(Account).values(balance_fen=Account.balance_fen - 1))
                await s.commit()
            await measured("... no watch lines", NOW + timedelta(minutes=20))
    finally:
        server.should_exit = True
        await serving
        await engine.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nincremental prepaid sweep over {args.accounts:,} accounts (SQLite):")
    print("\n".join(lines))


if __name__ == "__main__":
    asyncio.run(main())
