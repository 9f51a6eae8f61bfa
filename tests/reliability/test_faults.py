"""The fault suite: the whole uplink — simulated DL/T 645 meters, the edge agent, a persistent
Mosquitto, ``meterline ingest``, the database — with faults at random moments:

* the agent killed with SIGKILL (mid-poll, mid-publish, with a backlog or none);
* ``meterline ingest`` killed with SIGKILL mid-stream (batches in hand, commits in flight);
* the broker stopped and started again (its persistence keeps sessions and queues; the agent
  buffers meanwhile);
* on PostgreSQL, the database restarted (fast: every session cut mid-transaction and rolled
  back) while ingest is writing.

The invariant after all of them: every reading the agent ever recorded in its outbox is in the
database, once, by natural key, with its value; no meter read is stored twice under another key
(each read of a simulated meter advances its register by 10 Wh, so a value seen twice would be
one read stored twice); the only holes in a meter's register sequence are reads a killed agent
had taken but not yet recorded, at most one per meter and kill; no dead letters.

Run it alone (it prints its counts):

    .venv/bin/pytest tests/reliability -q -s

CI runs this bounded form (3 agent kills, 3 ingest kills, 2 broker restarts, 2 database restarts,
on PostgreSQL). ``METERLINE_FAULTS=N`` runs N agent kills and N ingest kills and N/4 broker and
N/4 database restarts (the latter on PostgreSQL), on SQLite and PostgreSQL each;
``METERLINE_FAULTS_SEED`` repeats a run's moments.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import text

from backend.db import create_engine
from protocols.contract import Value
from tests.reliability.conftest import start, stop
from tests.support.agent import agent_toml, dlt645_tcp_bus
from tests.support.dlt645_meter import FakeBus, FakeMeter
from tests.support.ingest_agent import forget_session
from tests.support.ingest_process import IngestProcess
from tests.support.services import Mosquitto, Postgres

pytestmark = pytest.mark.mosquitto

ROOT = Path(__file__).resolve().parents[2]
ADDRESSES = ["310000000001", "310000000002", "310000000003"]
ROUNDS = int(os.environ.get("METERLINE_FAULTS", "3"))
SEED = int(os.environ.get("METERLINE_FAULTS_SEED", str(random.SystemRandom().randrange(10**6))))
DATABASES = (
    [pytest.param("postgresql", marks=pytest.mark.postgres)]
    if "METERLINE_FAULTS" not in os.environ
    else ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
Key = tuple[str, int, str]  # (meter, ts, quantity): a reading's natural key


def outbox(db_path: Path) -> dict[Key, int]:
    """The readings the agent holds recorded in its outbox (read-only, while it runs)."""
    if not db_path.exists():
        return {}
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        rows = conn.execute("SELECT body FROM outbox WHERE channel = 'readings'").fetchall()
    except sqlite3.OperationalError:  # created, schema not yet in place
        return {}
    finally:
        conn.close()
    dec = msgspec.msgpack.Decoder(Value)
    return {(v.meter, v.ts, v.quantity.value): v.value for v in (dec.decode(r[0]) for r in rows)}


class Uplink:
    """The processes under test and what they have recorded and stored."""

    def __init__(self, tmp: Path, broker: Mosquitto, database_url: str, config: Path) -> None:
        self.tmp, self.broker, self.database_url, self.config = tmp, broker, database_url, config
        self.engine = create_engine(database_url)
        self.client_id = f"faults-{tmp.name}"
        self.ingest: IngestProcess | None = None
        self.agent: asyncio.subprocess.Process | None = None
        self.recorded: dict[Key, int] = {}
        self.log = open(tmp / "agent.log", "ab")  # noqa: SIM115 - closed in close()

    def start_ingest(self) -> None:
        self.ingest = IngestProcess(
            self.broker, self.database_url, self.tmp / "ingest", self.client_id,
            ingest_batch_size="50",
        )  # fmt: skip

    async def start_agent(self) -> None:
        self.agent = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "edge_agent", "run", "--config", str(self.config),
            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=self.log, stderr=self.log,
        )  # fmt: skip

    def note_outbox(self) -> None:
        self.recorded.update(outbox(self.tmp / "data" / "agent.db"))

    async def stored(self) -> dict[Key, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT m.meter_id, r.ts, r.quantity, r.value FROM readings r "
                    "JOIN meters m ON m.id = r.meter_pk"
                )
            )
            out: dict[Key, int] = {}
            for meter, ts, quantity, value in rows:
                assert (meter, ts, quantity) not in out  # the primary key says so; checked
                out[(meter, ts, quantity)] = value
            return out

    async def count(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM readings"))).scalar_one())

    async def flowing(self, more: int = 5, within_s: float = 120.0) -> None:
        """Until ``more`` readings more are stored: agent, broker and ingest all working."""
        target = await self.count() + more
        deadline = time.monotonic() + within_s
        while await self.count() < target:
            assert time.monotonic() < deadline, "the uplink did not resume in time"
            assert self.agent is not None
            assert self.agent.returncode is None, (self.tmp / "agent.log").read_text()[-3000:]
            assert self.ingest is not None
            assert self.ingest.proc.poll() is None, self.ingest.output[-3000:]
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.agent is not None and self.agent.returncode is None:
            self.agent.kill()
            await self.agent.wait()
        if self.ingest is not None:
            self.ingest.stop()
        self.log.close()
        await self.engine.dispose()
        forget_session(self.broker, self.client_id)


@pytest.mark.timeout(300 + 20 * (2 * ROUNDS + 2 * max(2, ROUNDS // 4)))  # about 7 s a fault here
@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
async def test_no_accepted_reading_is_lost_or_stored_twice_through_kills_and_restarts(
    database_url: str, persistent_broker: Mosquitto, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    rng = random.Random(SEED)
    meters = FakeBus(*(FakeMeter(a) for a in ADDRESSES))
    port = await meters.start_tcp()
    bus = dlt645_tcp_bus(port, ADDRESSES, every_s=0.05).replace(
        "timeout_ms = 150",
        "timeout_ms = 3000",  # a late reply on a busy machine is no loss
    )
    config = agent_toml(tmp_path, persistent_broker, bus, outbox="batch_size = 10\ninflight = 4")
    up = Uplink(tmp_path, persistent_broker, database_url, config)
    faults = ["agent"] * ROUNDS + ["ingest"] * ROUNDS + ["broker"] * max(2, ROUNDS // 4)
    pg: Postgres | None = None
    if database_url.startswith("postgresql"):
        pg = request.getfixturevalue("postgres")
        faults += ["database"] * max(2, ROUNDS // 4)
    rng.shuffle(faults)
    done: Counter[str] = Counter()
    started = time.monotonic()
    try:
        up.start_ingest()
        await up.start_agent()
        await up.flowing(within_s=180)
        for fault in faults:
            await asyncio.sleep(rng.uniform(0.0, 1.0))  # a random moment in the stream
            up.note_outbox()
            if fault == "agent":
                assert up.agent is not None
                up.agent.send_signal(signal.SIGKILL)
                await up.agent.wait()
                up.note_outbox()  # what it had recorded when it died
                await up.start_agent()
            elif fault == "ingest":
                assert up.ingest is not None
                up.ingest.kill()
                up.start_ingest()
            elif fault == "database":
                assert pg is not None
                pg.restart()  # ingest's sessions die mid-transaction; it must retry, not drop
            else:
                stop(persistent_broker)
                await asyncio.sleep(rng.uniform(0.5, 2.0))  # the agent buffers meanwhile
                up.note_outbox()
                start(persistent_broker)
            done[fault] += 1
            await up.flowing()
        up.note_outbox()
        deadline = time.monotonic() + 120
        while not set(up.recorded) <= set(stored := await up.stored()):
            assert time.monotonic() < deadline, "recorded readings never arrived"
            await asyncio.sleep(0.2)
        async with up.engine.connect() as conn:
            dead = (await conn.execute(text("SELECT count(*) FROM dead_letters"))).scalar_one()
    finally:
        await up.close()
        await meters.stop()
    missing = {k: v for k, v in up.recorded.items() if stored.get(k) != v}
    per_meter: dict[str, list[int]] = {}
    for (meter, _ts, _q), value in stored.items():
        per_meter.setdefault(meter, []).append(value)
    twice = {m: [v for v, n in Counter(vs).items() if n > 1] for m, vs in per_meter.items()}
    holes = {
        m: sum(1 for a, b in zip(sorted(vs), sorted(vs)[1:], strict=False) if b - a != 10)
        for m, vs in per_meter.items()
    }
    print(
        f"\nfaults (seed {SEED}, {database_url.split(':')[0]}): {dict(done)}, "
        f"{sum(done.values())} in {time.monotonic() - started:.0f} s; readings recorded by the "
        f"agent and checked: {len(up.recorded)}, meter reads served: "
        f"{sum(m.reads for m in meters.meters.values())}, stored: {len(stored)}, "
        f"lost: {len(missing)}, "
        f"stored twice: {sum(map(len, twice.values()))}, holes per meter: {holes}"
    )
    assert sum(done.values()) == len(faults)
    assert missing == {}
    assert all(not v for v in twice.values()), twice
    assert all(n <= done["agent"] for n in holes.values()), holes
    assert dead == 0
    assert len(per_meter) == len(ADDRESSES)
