"""Meter-to-ledger benchmark: readings → consumption → billing → ledger, through a real broker.

    .venv/bin/python bench/meter_to_ledger.py                      # SQLite and PostgreSQL
    .venv/bin/python bench/meter_to_ledger.py --meters 200 --hours 6 --only-db sqlite
    .venv/bin/python bench/meter_to_ledger.py --meters 200 --hours 2 --rate 40   # steady rate

N prepaid meters (each its own account, the default tariffs, a credit that never runs out)
report ``energy_import`` every 15 minutes; agent-1 publishes them 50 meters to a message. For
each database, in the same run and on the same stream queued in a real Mosquitto (QoS 1, the
ingestor's persistent session):

* **ingestion alone** — an ``Ingestor`` drains the queue into a fresh database, from connect to
  the last commit (the baseline);
* **the whole path** — the same, into another fresh database, with metering's derived-data path
  (consumption, then billing: ``backend.metering.derived`` with
  ``backend.prepaid.billing.on_readings_committed``, as ``meterline serve`` wires it) announced
  after every batch, until every account's billing has reached the last reading.

Reported: readings/s of both, their ratio, and the commit-to-ledger lag of each batch (from the
announcement after its commit to the end of the derived-data round that billed it) at p50, p99
and max. A queued stream is drained as fast as the path allows, so the lag is that of a
backlog (an outage's worth), not of a steady rate: the whole path's throughput is the figure to
compare with the incoming rate. With ``--rate R`` the stream is instead published at R
readings/s while the path runs (both runs), and the lag is that of a steady rate.

PostgreSQL: a temporary cluster with ``fsync`` and ``synchronous_commit`` on; SQLite: a
temporary file (ingestion's connection with ``synchronous=FULL``).

With ``--breakdown`` the whole path's run also prints where its rounds went: the wall time and
statements of consumption and of each part of the billing rounds (``backend.prepaid.bulk``'s
reads and writes, pricing in Python), the slowest statements, and every round's start, length
and size. Wall time inside a round includes the ingestion work the event loop interleaves with
it.

The process first settles its garbage collector as ``meterline serve`` and ``meterline ingest``
do (``backend.heap``); ``--default-gc`` leaves it at CPython's default pace instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import functools
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import event, func, select  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from backend import heap, migrate  # noqa: E402
from backend.accounts.models import Account, AccountKind, Customer, CustomerCategory  # noqa: E402
from backend.db import create_engine, session_factory  # noqa: E402
from backend.metering import consumption  # noqa: E402
from backend.metering.derived import DerivedData, share  # noqa: E402
from backend.metering.ingest import Ingestor  # noqa: E402
from backend.metering.models import Agent, Meter, MeterStatus  # noqa: E402
from backend.metering.partitions import ensure_reading_partitions  # noqa: E402
from backend.prepaid import billing, bulk  # noqa: E402
from backend.prepaid.models import BillingState, LedgerEntry  # noqa: E402
from backend.settings import load_settings  # noqa: E402
from backend.tariffs.loader import DEFAULT_FILE, load_file  # noqa: E402
from backend.tariffs.service import store_tariffs  # noqa: E402
from protocols.contract import Channel, Quantity, ReadingBatch, Value, agent_topic, encode  # noqa: E402
from tests.support.ingest_agent import forget_session  # noqa: E402
from tests.support.services import Mosquitto, start_mosquitto, start_postgres  # noqa: E402

T0 = 1_772_380_800_000  # 2026-03-01T16:00:00Z, local midnight in Shanghai
STEP = 15 * 60_000
PER_MESSAGE = 50
TOPIC = agent_topic("agent-1", Channel.READINGS)
TZ = "Asia/Shanghai"


def stream(meters: int, steps: int) -> list[bytes]:
    """Every meter at every quarter hour, ``PER_MESSAGE`` meters to a message, in time order;
    150–450 Wh a quarter, different per meter and hour."""
    out, seq = [], 0
    for k in range(steps):
        ts = T0 + k * STEP
        batch: list[Value] = []
        for i in range(meters):
            value = sum(150 + (i * 7 + j * 13) % 300 for j in range(k + 1))
            batch.append(Value(meter=f"p{i:06d}", quantity=Quantity.ENERGY_IMPORT, ts=ts,
                               value=value))  # fmt: skip
            if len(batch) == PER_MESSAGE or i == meters - 1:
                seq += 1
                out.append(encode(ReadingBatch(agent="agent-1", seq=seq, values=batch)))
                batch = []
    return out


def prefill(broker: Mosquitto, payloads: list[bytes]) -> None:
    login = f"-h {broker.host} -p {broker.port} -u agent-1 -P {broker.users['agent-1']}"
    subprocess.run(
        ["mosquitto_pub", *login.split(), *f"-V mqttv5 -q 1 -M 1000 -t {TOPIC} -l".split()],
        input=b"\n".join(payloads) + b"\n",
        check=True,
    )


async def provision(engine: AsyncEngine, meters: int) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        await store_tariffs(s, load_file(DEFAULT_FILE))
        s.add(Agent(id="agent-1"))
        customers = [
            Customer(number=f"P{i:06d}", name=f"客户{i}", category=CustomerCategory.RESIDENTIAL)
            for i in range(meters)
        ]
        s.add_all(customers)
        await s.flush()
        accounts = [
            Account(number=f"A{i:06d}", customer_id=c.id, kind=AccountKind.PREPAID,
                    balance_fen=0, credit_limit_fen=10**9, cycle_start=date(2026, 1, 1))
            for i, c in enumerate(customers)
        ]  # fmt: skip
        s.add_all(accounts)
        await s.flush()
        s.add_all(
            Meter(meter_id=f"p{i:06d}", agent_id="agent-1", customer_id=a.customer_id,
                  account_id=a.id, status=MeterStatus.ACTIVE, relay_control_mode=2,
                  relay_state=1, protocol="dlt645")
            for i, a in enumerate(accounts)
        )  # fmt: skip
        await s.commit()
    if engine.dialect.name == "postgresql":
        async with engine.connect() as conn:
            await ensure_reading_partitions(conn, 1, now=datetime.fromtimestamp(T0 / 1000, UTC))


class TimedDerived(DerivedData):
    """The derived-data path, noting when each announcement came and when it was billed: at
    the end of the round that took the last of its chains (a round takes a share of what is
    queued: ``MAX_ROUND_READINGS``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.waiting: list[tuple[float, set[tuple[int, str]]]] = []
        self.lags: list[float] = []
        self.consumption_s = 0.0
        self.drains = 0

    async def _consumption(self, spans: Any) -> None:
        t0 = time.perf_counter()
        await super()._consumption(spans)
        self.consumption_s += time.perf_counter() - t0

    async def announce(self, intervals: Any) -> None:
        if intervals:
            self.waiting.append((time.perf_counter(), {(iv[0], iv[1]) for iv in intervals}))
        await super().announce(intervals)

    async def drain(self) -> None:
        # the chains this round takes, as its own ``share`` will (no await in between)
        took = share(dict(self._consume), self.max_readings).keys() | self._follow.keys()
        pending, self.waiting = self.waiting, []
        self.drains += 1
        chains, t0 = len(took), time.perf_counter()
        await super().drain()
        done = time.perf_counter()
        for at, keys in pending:
            left = keys - took
            if left:
                self.waiting.append((at, left))
            else:
                self.lags.append(done - at)
        if BREAKDOWN is not None:
            BREAKDOWN.rounds.append((t0, done - t0, chains))


class Breakdown:
    """Where the whole path's rounds go: wall time, calls and statements per part, the
    slowest statements, each round's start, length and number of chains."""

    def __init__(self) -> None:
        self.part: contextvars.ContextVar[str] = contextvars.ContextVar("part", default="")
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.statements: dict[str, int] = defaultdict(int)
        self.slowest: dict[str, float] = defaultdict(float)
        self.rounds: list[tuple[float, float, int]] = []
        self.started: dict[int, float] = {}

    def install(self) -> None:
        parts = ("lock", "read", "walks", "stretches", "live_lines", "write", "_insert_charges")
        for name in parts:
            self._timed(bulk, name, f"billing {name}")
        self._timed(billing, "_round", "billing rounds")
        self._timed(consumption, "on_readings_committed", "consumption")
        price = billing._price

        @functools.wraps(price)
        def priced(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return price(*args, **kwargs)
            finally:
                self.seconds["billing pricing (Python)"] += time.perf_counter() - t0
                self.calls["billing pricing (Python)"] += 1

        billing._price = priced  # type: ignore[assignment]
        event.listen(Engine, "before_cursor_execute", self._before)
        event.listen(Engine, "after_cursor_execute", self._after)

    def _timed(self, module: Any, name: str, label: str) -> None:
        inner = getattr(module, name)

        @functools.wraps(inner)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            token = self.part.set(label)
            t0 = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t0
                self.calls[label] += 1
                self.part.reset(token)

        setattr(module, name, timed)

    def _before(self, conn: Any, *args: Any) -> None:
        if self.part.get():
            self.statements[self.part.get()] += 1
            self.started[id(conn)] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        t0 = self.started.pop(id(conn), None)
        if t0 is not None:
            key = f"{self.part.get()}: {' '.join(statement.split()[:3])[:48]}"
            self.slowest[key] += time.perf_counter() - t0

    def clear(self) -> None:
        for d in (self.seconds, self.calls, self.statements, self.slowest):
            d.clear()
        self.rounds.clear()

    def report(self, label: str) -> None:
        print(f"  {label}: where the rounds went (wall time, calls, statements)")
        for part in sorted(self.seconds):
            print(f"    {part:<28}{self.seconds[part]:7.3f}s {self.calls[part]:6} "
                  f"{self.statements.get(part, 0):6}")  # fmt: skip
        print("  slowest statements (summed):")
        for key in sorted(self.slowest, key=self.slowest.__getitem__, reverse=True)[:8]:
            print(f"    {self.slowest[key]:7.3f}s  {key}")
        t00 = self.rounds[0][0] if self.rounds else 0.0
        for t0, seconds, chains in self.rounds:
            if chains:
                print(f"    round at {t0 - t00:6.2f}s took {seconds:6.3f}s for {chains} chains")


BREAKDOWN: Breakdown | None = None


class TimedBilling:
    """Billing, timed."""

    def __init__(self) -> None:
        self.seconds = 0.0

    async def __call__(self, *args: Any) -> object:
        t0 = time.perf_counter()
        try:
            return await billing.on_readings_committed(*args)
        finally:
            self.seconds += time.perf_counter() - t0


@dataclass
class Run:
    readings: int
    seconds: float
    lags: list[float]
    ledger_entries: int = 0
    rounds: int = 0
    consumption_s: float = 0.0
    billing_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.readings / self.seconds


def paced(broker: Mosquitto, payloads: list[bytes], rate: float) -> None:
    """Publish as agent-1 would, QoS 1, at ``rate`` readings a second (a thread's work)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-m2l-agent",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.username_pw_set("agent-1", broker.users["agent-1"])
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        start = time.perf_counter()
        for n, payload in enumerate(payloads):
            wait = start + n * PER_MESSAGE / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            client.publish(TOPIC, payload, qos=1).wait_for_publish(30)
    finally:
        client.disconnect()
        client.loop_stop()


async def drain(
    url: str, broker: Mosquitto, payloads: list[bytes], label: str, tmp: str, *, whole: bool,
    meters: int, last_ts: int, rate: float | None = None,
) -> Run:  # fmt: skip
    """The queued stream drained (``rate`` None), or published at ``rate`` readings/s while
    the ingestor runs."""
    settings = load_settings(
        env={}, database_url=url, mqtt_url=broker.url(Mosquitto.BACKEND), data_dir=tmp
    )
    engine = create_engine(url)
    await provision(engine, meters)
    sessions = session_factory(engine)
    cid = f"bench-m2l-{label}"
    first = Ingestor(settings, client_id=cid, stats_every_s=3600, housekeeping_every_s=3600)
    await first.start()  # the persistent session and its subscription, before the stream
    await asyncio.wait_for(first.mqtt.connected.wait(), 30)
    await first.stop()
    if rate is None:
        prefill(broker, payloads)
    bill = TimedBilling()
    if BREAKDOWN is not None:
        BREAKDOWN.clear()
    derived = TimedDerived(sessions, TZ, [bill]) if whole else None
    ing = Ingestor(
        settings, client_id=cid, stats_every_s=3600, housekeeping_every_s=3600,
        after_commit=(derived.announce,) if derived else (),
    )  # fmt: skip
    if derived:
        derived.behind = ing.is_behind  # as ``meterline serve`` wires it
        derived.start()
    t0 = time.perf_counter()
    await ing.start()
    publisher = None
    if rate is not None:
        await asyncio.wait_for(ing.mqtt.connected.wait(), 30)
        publisher = asyncio.create_task(asyncio.to_thread(paced, broker, payloads, rate))
    counters = ing.counters
    while counters.messages < len(payloads) or ing.writer.backlog or not ing.writer.idle.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    if derived:
        while True:
            await derived.settled()
            async with sessions() as s:
                caught_up = await s.scalar(
                    select(func.count())
                    .select_from(BillingState)
                    .where(BillingState.billed_through_ms >= last_ts)
                )
            if caught_up == meters:
                break
            await asyncio.sleep(0.05)
    seconds = time.perf_counter() - t0
    if publisher is not None:
        await publisher
    stats = ing.stats()
    await ing.stop()
    if derived:
        await derived.stop()
    forget_session(broker, cid)
    async with sessions() as s:
        entries = int(await s.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
    await engine.dispose()
    if BREAKDOWN is not None and whole:
        BREAKDOWN.report(label)
    assert stats["dead_letters"] == 0, stats
    if derived is None:
        return Run(stats["accepted"], seconds, [], entries)
    return Run(
        stats["accepted"], seconds, derived.lags, entries, derived.drains, derived.consumption_s,
        bill.seconds,
    )  # fmt: skip


def fresh_databases(db: str, tmp: str, names: tuple[str, ...]) -> tuple[list[str], Any]:
    """Migrated, empty databases of one kind, one per name, durable as in production: their
    URLs, and the PostgreSQL cluster that holds them (None for SQLite files in ``tmp``)."""
    if db == "sqlite":
        template = Path(tmp) / "template.db"
        migrate.upgrade(f"sqlite+aiosqlite:///{template}")
        for name in names:
            shutil.copy(template, Path(tmp) / f"{name}.db")
        return [f"sqlite+aiosqlite:///{Path(tmp) / f'{name}.db'}" for name in names], None
    pg = start_postgres(durable=True)
    pg.psql("CREATE DATABASE bench_template")
    migrate.upgrade(pg.url("bench_template"))
    for name in names:
        pg.psql(f"CREATE DATABASE bench_{name} TEMPLATE bench_template")
    return [pg.url(f"bench_{name}") for name in names], pg


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--meters", type=int, default=1000)
    p.add_argument("--hours", type=int, default=12, help="of readings, 4 a meter per hour")
    p.add_argument("--only-db", choices=["sqlite", "postgresql"])
    p.add_argument(
        "--rate", type=float,
        help="publish at this many readings/s while the path runs (the lag at a steady rate) "
        "instead of draining a queued stream",
    )  # fmt: skip
    p.add_argument(
        "--breakdown", action="store_true",
        help="print where the whole path's rounds went (parts, statements, rounds)",
    )  # fmt: skip
    p.add_argument(
        "--default-gc", action="store_true",
        help="leave the garbage collector at CPython's default pace (the processes settle it: "
        "backend.heap)",
    )  # fmt: skip
    args = p.parse_args()
    if args.breakdown:
        global BREAKDOWN
        BREAKDOWN = Breakdown()
        BREAKDOWN.install()
    steps = args.hours * 4
    payloads = stream(args.meters, steps)
    if not args.default_gc:
        heap.settle()  # as meterline serve and meterline ingest do once started
    readings = args.meters * steps
    last_ts = T0 + (steps - 1) * STEP
    broker = start_mosquitto(["agent-1"])
    tmp = tempfile.mkdtemp(prefix="bench-m2l-")
    pg: Any = None
    print(f"{args.meters} prepaid meters × {steps} quarter hours = {readings:,} readings "
          f"in {len(payloads):,} messages", flush=True)  # fmt: skip
    results: list[tuple[str, Run, Run]] = []
    try:
        dbs = [args.only_db] if args.only_db else ["sqlite", "postgresql"]
        for db in dbs:
            urls, cluster = fresh_databases(db, tmp, ("alone", "whole"))
            pg = cluster or pg
            alone = await drain(urls[0], broker, payloads, f"{db}-alone", tmp, whole=False,
                                meters=args.meters, last_ts=last_ts, rate=args.rate)  # fmt: skip
            print(f"  {db}: ingestion alone {alone.rate:,.0f} readings/s", flush=True)
            whole = await drain(urls[1], broker, payloads, f"{db}-whole", tmp, whole=True,
                                meters=args.meters, last_ts=last_ts, rate=args.rate)  # fmt: skip
            print(f"  {db}: whole path {whole.rate:,.0f} readings/s", flush=True)
            assert alone.readings == whole.readings == readings, (alone, whole)
            results.append((db, alone, whole))
    finally:
        broker.process.terminate()
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"  {'database':<11}{'readings':>9}{'alone r/s':>11}{'whole r/s':>11}{'ratio':>7}"
          f"{'lag p50':>9}{'p99':>7}{'max':>7}{'ledger rows':>12}{'rounds':>7}"
          f"{'consumption':>12}{'billing':>9}")  # fmt: skip
    for db, alone, whole in results:
        print(
            f"  {db:<11}{whole.readings:>9,}{alone.rate:>11,.0f}{whole.rate:>11,.0f}"
            f"{whole.rate / alone.rate:>7.2f}{pct(whole.lags, 0.5):>8.1f}s"
            f"{pct(whole.lags, 0.99):>6.1f}s{max(whole.lags, default=0):>6.1f}s"
            f"{whole.ledger_entries:>12,}{whole.rounds:>7}{whole.consumption_s:>11.1f}s"
            f"{whole.billing_s:>8.1f}s"
        )


if __name__ == "__main__":
    asyncio.run(main())
