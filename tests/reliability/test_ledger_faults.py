"""Ledgers under faults: prepaid meters read by the edge agent, ingested and billed by a real
``meterline serve`` (its derived-data path: consumption, then billing), and that process killed
with SIGKILL at random moments — mid-batch, mid-billing-round — and started again under the same
MQTT session. On PostgreSQL the database is also restarted under it.

The invariant once the stream stops: every account's ledger is the exact bill of what its
meters consumed — the kWh billed are the kWh consumption reports, and the fen posted are every
interval rated from scratch, rounded once (``tests/support/ledger_check.py``).

``METERLINE_FAULTS=N`` kills the process N/2 times (at least 3) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from backend.db import create_engine, session_factory
from backend.metering.models import Reading
from backend.prepaid.models import LedgerEntry
from tests.support.agent import agent_toml, dlt645_tcp_bus
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.ingest_agent import forget_session
from tests.support.ledger_check import ledger_mismatches
from tests.support.prepaid_data import TZ, load_default_tariffs, make_account
from tests.support.serve_process import ServeProcess
from tests.support.services import Mosquitto, Postgres
from tests.support.uplink import Uplink

pytestmark = pytest.mark.mosquitto

ADDRESSES = ["310000000031", "310000000032", "310000000033"]
KILLS = max(3, int(os.environ.get("METERLINE_FAULTS", "0")) // 2)
SEED = int(os.environ.get("METERLINE_FAULTS_SEED", str(random.SystemRandom().randrange(10**6))))
DATABASES = (
    [pytest.param("postgresql", marks=pytest.mark.postgres)]
    if "METERLINE_FAULTS" not in os.environ
    else ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)


@pytest.mark.timeout(300 + 30 * KILLS)
@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
async def test_every_ledger_is_its_exact_bill_after_the_billing_process_is_killed_mid_stream(
    database_url: str, mosquitto: Mosquitto, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(SEED)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    accounts: list[tuple[int, int]] = []  # (account id, meter pk)
    async with sessions.begin() as s:
        await load_default_tariffs(s)
        for address in ADDRESSES:
            _, account, meter = await make_account(s, credit_limit_fen=10**9)
            meter.meter_id = f"m{address[-1]}"  # the agent's name for it
            accounts.append((account.id, meter.id))
    meters = FakeBus(*(FakeMeter(a, step_wh=40) for a in ADDRESSES))
    port = await meters.start_tcp()
    bus = dlt645_tcp_bus(port, ADDRESSES, every_s=0.1)
    bus = bus.replace("timeout_ms = 150", "timeout_ms = 3000")
    up = Uplink(tmp_path, mosquitto, database_url, agent_toml(tmp_path, mosquitto, bus))
    client_id = f"ledger-faults-{tmp_path.name}"
    settings = dict(
        database_url=database_url, mqtt_url=mosquitto.url(Mosquitto.BACKEND),
        mqtt_client_id=client_id, jwt_secret="x" * 40, prepaid_sweep_seconds="3600",
        ingest_batch_size="20",
    )  # fmt: skip
    pg: Postgres | None = None
    faults = ["serve"] * KILLS
    if database_url.startswith("postgresql"):
        pg = request.getfixturevalue("postgres")
        faults += ["database"] * max(1, KILLS // 3)
    rng.shuffle(faults)
    serve = ServeProcess(tmp_path / "serve", **settings)
    done: Counter[str] = Counter()

    async def readings() -> int:
        async with sessions() as s:
            return int(await s.scalar(select(func.count()).select_from(Reading)) or 0)

    async def flowing(more: int = 10, within_s: float = 120.0) -> None:
        target = await readings() + more
        deadline = time.monotonic() + within_s
        while await readings() < target:
            assert time.monotonic() < deadline, serve.output[-3000:]
            assert up.agent is not None
            assert up.agent.returncode is None, (tmp_path / "agent.log").read_text()[-3000:]
            await asyncio.sleep(0.1)

    try:
        await up.start_agent()
        await flowing(within_s=180)
        for fault in faults:
            await asyncio.sleep(rng.uniform(0.2, 2.0))  # a random moment in the stream
            if fault == "serve":
                await asyncio.to_thread(serve.kill)  # mid-batch, mid-round: no shutdown at all
                serve = ServeProcess(tmp_path / "serve", **settings)
            else:
                assert pg is not None
                await asyncio.to_thread(pg.restart)  # every session cut mid-transaction
            done[fault] += 1
            await flowing()
        assert up.agent is not None
        up.agent.kill()  # the stream stops; what was stored must now be billed exactly
        await up.agent.wait()
        deadline = time.monotonic() + 120
        while True:
            async with sessions() as s:
                wrong = [w for a, m in accounts for w in await ledger_mismatches(s, a, [m], TZ)]
            if not wrong:
                break
            assert time.monotonic() < deadline, (wrong, serve.output[-3000:])
            await asyncio.sleep(0.5)
        async with sessions() as s:
            stored = await readings()
            entries = int(await s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
            posted = -int(await s.scalar(select(func.sum(LedgerEntry.amount_fen))) or 0)
    finally:
        serve.stop()
        await up.close()
        await meters.stop()
        await engine.dispose()
        forget_session(mosquitto, client_id)
    print(
        f"\nledger faults (seed {SEED}, {database_url.split(':')[0]}): {dict(done)}; readings "
        f"stored: {stored}, ledger entries: {entries}, fen posted: {posted}; every ledger "
        f"is its exact bill"
    )
    assert sum(done.values()) == len(faults)
    assert posted > 0  # consumption was billed between the kills
