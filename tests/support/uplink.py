"""The uplink under test as real processes — the edge agent, ``meterline ingest`` — with what
the agent has recorded in its outbox and what the database has stored, for the fault suite."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import time
from pathlib import Path

import msgspec
from sqlalchemy import text

from backend.db import create_engine
from protocols.contract import Value
from tests.support.ingest_agent import forget_session
from tests.support.ingest_process import IngestProcess
from tests.support.services import Mosquitto

ROOT = Path(__file__).resolve().parents[2]
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

    async def never_arrived(self, stored: dict[Key, int], seed: str) -> str:
        """What a failed wait says: which recorded readings are missing, whether the agent still
        holds them (stuck) or let them go (lost), the dead letters, the processes' last words."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(text("SELECT topic, reason FROM dead_letters LIMIT 5"))
            dead = [tuple(row) for row in rows]
        missing = sorted(set(self.recorded) - set(stored))
        held = outbox(self.tmp / "data" / "agent.db")
        still = [k for k in missing if k in held]
        age_s = (time.time_ns() // 1_000_000 - min(k[1] for k in missing)) / 1000 if missing else 0
        ingest = self.ingest.output[-3000:] if self.ingest is not None else ""
        said = (self.tmp / "agent.log").read_text(errors="replace").splitlines()
        warned = "\n".join(
            [line for line in said if " DEBUG " not in line and " INFO " not in line][-30:]
        )
        return (
            f"recorded readings never arrived ({seed}): {len(missing)} of {len(self.recorded)} "
            f"missing, {len(still)} of them still in the agent's outbox; oldest "
            f"{age_s:.0f} s ago: {missing[:5]}; dead letters: {dead}\n"
            f"agent's last warnings:\n{warned}\ningest:\n{ingest}"
        )

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
