"""Concurrency that holds, on SQLite (serialised) and PostgreSQL, against the API served by
uvicorn on a real socket: 100 top-ups at once answer no 5xx and post every one; 50 with one
Idempotency-Key post once (the rest 409 or the first answer replayed); another customer is not
kept waiting meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from backend.db import session_factory
from backend.prepaid.models import EntryKind, LedgerEntry
from backend.server import make_server
from backend.settings import load_settings
from tests.integration.api.conftest import Api
from tests.support.e2e import stop_server, true_if, until
from tests.support.services import free_port
from tests.support.world import PASSWORD, build_world


class Served(Api):
    async def login(self, username: str) -> dict[str, str]:
        r = await self.client.post(
            "/api/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


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
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.http_port}", limits=limits, timeout=120
        ) as client:
            yield Served(client, world, settings, engine)  # type: ignore[arg-type]
    finally:
        await stop_server(server, serving)


async def entries(api: Api, account: int) -> tuple[int, int]:
    async with session_factory(api.engine)() as s:
        row = (
            await s.execute(
                select(func.count(), func.coalesce(func.sum(LedgerEntry.amount_fen), 0)).where(
                    LedgerEntry.account_id == account, LedgerEntry.kind == EntryKind.TOP_UP
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_a_hundred_concurrent_top_ups_all_succeed_and_nobody_else_waits(
    served: Api,
) -> None:
    api, acc = served, served.world.alice_account
    op = await api.login("op")
    bob = await api.login("bob")
    bob_acc = api.world.bob_account

    async def pay(n: int) -> int:
        r = await api.client.post(
            f"/api/accounts/{acc}/topups", json={"amount_fen": 100 + n, "channel": "counter"},
            headers={**op, "Idempotency-Key": f"parallel-{n:04d}"},
        )  # fmt: skip
        return r.status_code

    async def bob_reads() -> float:
        await asyncio.sleep(0)  # let the top-ups start first
        started = time.monotonic()
        r = await api.client.get(f"/api/accounts/{bob_acc}/balance", headers=bob)
        assert r.status_code == 200
        return time.monotonic() - started

    *statuses, bob_took = await asyncio.gather(*(pay(n) for n in range(100)), bob_reads())
    assert sorted(set(statuses)) == [201]
    assert await entries(api, acc) == (100, sum(100 + n for n in range(100)))
    # the pool's timeout is 30 s: a stalled pool would show here as a wait of that order
    assert bob_took < 10, f"another customer waited {bob_took:.1f} s"


async def test_fifty_parallel_top_ups_with_one_key_post_once_and_never_fail(
    served: Api,
) -> None:
    api, acc = served, served.world.alice_account
    headers = {**await api.login("op"), "Idempotency-Key": "one-key-fifty-times"}
    body = {"amount_fen": 5_000, "channel": "counter"}
    answers = await asyncio.gather(
        *(api.client.post(f"/api/accounts/{acc}/topups", json=body, headers=headers)
          for _ in range(50))
    )  # fmt: skip
    codes = [a.status_code for a in answers]
    assert set(codes) <= {201, 409}, codes
    firsts = [a for a in answers if a.headers.get("idempotent-replayed") == "false"]
    replays = [a for a in answers if a.headers.get("idempotent-replayed") == "true"]
    assert len(firsts) == 1
    assert all(r.content == firsts[0].content for r in replays)
    assert await entries(api, acc) == (1, 5_000)
