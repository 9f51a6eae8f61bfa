"""A sweep over a few thousand prepaid accounts while staff log in and take top-ups at the
counter, against the API served by uvicorn on a real socket: every request succeeds, and
top-ups commit while the sweep is still running (it never holds the database for its whole
run), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory
from backend.db import session_factory
from backend.metering.models import Meter
from backend.prepaid import sweep
from backend.prepaid.models import EntryKind, LedgerEntry, Notice
from backend.server import make_server
from backend.settings import load_settings
from tests.integration.api.conftest import Api
from tests.support.e2e import stop_server, true_if, until
from tests.support.services import free_port
from tests.support.world import PASSWORD, build_world

ACCOUNTS = 3000
# Wednesday 2026-05-13, 10:00 local: a working day, inside the disconnect window
NOW = datetime(2026, 5, 13, 10, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
async def served(database_url: str, tmp_path: Path, engine: AsyncEngine) -> AsyncIterator[Api]:
    world = await build_world(engine)
    settings = load_settings(
        env={}, database_url=database_url, data_dir=str(tmp_path), ingest=False,
        prepaid_sweep_seconds=0, prepaid_notify_seconds=0, idempotency_purge_hours=0,
        http_port=free_port(), log_level="WARNING", auth_require_totp=False,
    )  # fmt: skip
    server = make_server(settings)
    serving = asyncio.create_task(server.serve(), name="meterline-serve")
    try:
        await until(lambda: true_if(server.started), "the API to start", 60)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.http_port}", timeout=120
        ) as client:
            yield Api(client, world, settings, engine)  # type: ignore[arg-type]
    finally:
        await stop_server(server, serving)


async def seed(engine: AsyncEngine, n: int) -> None:
    """n prepaid customers in bulk, each with a meter on: a third in arrears (warned by the
    sweep), a third low (reminded), a third healthy (left alone)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(Customer),
            [
                {"number": f"L{i:06d}", "name": f"客户{i}", "phone": f"139{i:08d}",
                 "category": CustomerCategory.RESIDENTIAL}
                for i in range(n)
            ],
        )  # fmt: skip
        ids = dict((await conn.execute(select(Customer.number, Customer.id))).all())
        balances = (-1_500, 1_000, 50_000)
        await conn.execute(
            insert(Account),
            [
                {"number": f"LA{i:06d}", "customer_id": ids[f"L{i:06d}"],
                 "kind": AccountKind.PREPAID, "balance_fen": balances[i % 3]}
                for i in range(n)
            ],
        )  # fmt: skip
        accounts = dict((await conn.execute(select(Account.number, Account.id))).all())
        await conn.execute(
            insert(Meter),
            [
                {"meter_id": f"LM{i:06d}", "customer_id": ids[f"L{i:06d}"],
                 "account_id": accounts[f"LA{i:06d}"], "agent_id": "agent-1",
                 "relay_state": 1, "protocol": "dlt645"}
                for i in range(n)
            ],
        )  # fmt: skip


async def test_logins_and_counter_top_ups_flow_while_a_sweep_runs_over_thousands_of_accounts(
    served: Api,
) -> None:
    api = served
    await seed(api.engine, ACCOUNTS)
    op = {"Authorization": f"Bearer {(await login(api, 'op'))[1]}"}
    account = api.world.alice_account
    sessions = session_factory(api.engine)
    swept = asyncio.create_task(sweep.run(sessions, api.settings, NOW))
    answers: list[tuple[str, int, float, float]] = []  # (what, status, took, finished)
    n = 0
    while not swept.done():
        n += 1
        started = time.monotonic()
        (status, _), topped = await asyncio.gather(
            login(api, "op" if n % 2 else "alice"), top_up(api, op, account, n)
        )
        finished = time.monotonic()
        answers += [
            ("login", status, finished - started, finished),
            ("top-up", topped, finished - started, finished),
        ]
    result = await swept
    ended = time.monotonic()
    assert {(what, status) for what, status, *_ in answers} <= {("login", 200), ("top-up", 201)}
    assert result.examined == ACCOUNTS + 1  # and Alice's; Bob's account is postpaid
    assert result.batches >= ACCOUNTS // sweep.BATCH
    # the sweep gave way: top-ups committed while it ran (one transaction would have kept
    # them waiting until its end, or failed them with "database is locked" on SQLite)
    during = [a for a in answers if a[0] == "top-up" and a[3] < ended - result.longest_batch_s]
    assert len(during) >= 2, (answers, result)
    async with sessions() as s:
        posted = await s.scalar(
            select(func.count()).where(
                LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.TOP_UP
            )
        )
        warned = await s.scalar(
            select(func.count(func.distinct(Notice.account_id)))
            .join(Account, Account.id == Notice.account_id)
            .where(Account.number.like("LA%"))
        )
    assert posted == n
    assert warned == 2 * ACCOUNTS // 3  # the arrears and the low thirds


async def login(api: Api, username: str) -> tuple[int, str]:
    """(status, access token)."""
    r = await api.client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    return r.status_code, r.json().get("access_token", "") if r.status_code == 200 else ""


async def top_up(api: Api, headers: dict[str, str], account: int, n: int) -> int:
    r = await api.client.post(
        f"/api/accounts/{account}/topups", json={"amount_fen": 100 + n, "channel": "counter"},
        headers={**headers, "Idempotency-Key": f"during-sweep-{n:05d}"},
    )  # fmt: skip
    return r.status_code
