"""Ingestion benchmark: readings through a real Mosquitto into SQLite and PostgreSQL.

    .venv/bin/python bench/ingest.py            # about 2 minutes
    .venv/bin/python bench/ingest.py --quick    # a smaller run, for a smoke check

For each database and each stream shape (100 readings per message, and one reading per
message) the stream is first queued in the broker for our persistent session (published with
``mosquitto_pub -l``, QoS 1), then an ``Ingestor`` with the default settings connects and
drains it: every reading committed (SQLite ``synchronous=FULL``; PostgreSQL with ``fsync`` and
``synchronous_commit`` on) and every message acknowledged after its commit. Reported: readings
and messages per second from connect to the last commit, the 99th percentile from a message's
receipt to its commit, and our process's CPU seconds. The baseline, measured in the same run on
the same queued stream, is ``mosquitto_sub -C N`` (QoS 1, MQTT 5, acknowledging on receipt,
storing nothing): the ratio says how close to the broker's own delivery rate we ingest.

Stream: 1,000 meters of agent-1 (provisioned, active), readings every 15 minutes; a batched
message carries 10 meters × 10 quantities at one time, a single message one energy reading.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from backend import migrate  # noqa: E402
from backend.db import create_engine  # noqa: E402
from backend.metering.ingest import Ingestor  # noqa: E402
from backend.metering.partitions import ensure_reading_partitions  # noqa: E402
from backend.settings import load_settings  # noqa: E402
from protocols.contract import (  # noqa: E402
    Channel,
    Quantity,
    ReadingBatch,
    Value,
    agent_topic,
    encode,
    subscription,
)
from tests.support.ingest_agent import forget_session  # noqa: E402
from tests.support.services import Mosquitto, start_mosquitto, start_postgres  # noqa: E402

T0 = 1_763_800_000_000
METERS = 1000
# five energy registers (total and four tariffs) and five instantaneous values
QUANTITIES = [*list(Quantity)[:5], Quantity.VOLTAGE_A, Quantity.CURRENT_A]
QUANTITIES += [Quantity.ACTIVE_POWER, Quantity.POWER_FACTOR, Quantity.FREQUENCY]
TOPIC = agent_topic("agent-1", Channel.READINGS)


def batched_stream(messages: int) -> list[bytes]:
    out = []
    for k in range(messages):
        first = (k * 10) % METERS
        ts = T0 + (k * 10 // METERS) * 900_000
        values = [
            Value(meter=f"m{first + i:04d}", ts=ts, quantity=q, value=k * 100 + i * 10 + j)
            for i in range(10)
            for j, q in enumerate(QUANTITIES)
        ]
        out.append(encode(ReadingBatch(agent="agent-1", seq=k + 1, values=values)))
    return out


def single_stream(messages: int) -> list[bytes]:
    q = Quantity.ENERGY_IMPORT
    return [
        encode(
            ReadingBatch(
                agent="agent-1",
                seq=k + 1,
                values=[
                    Value(
                        meter=f"m{k % METERS:04d}",
                        ts=T0 + (k // METERS) * 900_000,
                        quantity=q,
                        value=k,
                    )
                ],
            )
        )
        for k in range(messages)
    ]


def prefill(broker: Mosquitto, payloads: list[bytes]) -> None:
    """Queue the stream in the broker: ``mosquitto_pub -l``, one message per line, QoS 1."""
    login = f"-h {broker.host} -p {broker.port} -u agent-1 -P {broker.users['agent-1']}"
    subprocess.run(
        ["mosquitto_pub", *login.split(), *f"-V mqttv5 -q 1 -M 1000 -t {TOPIC} -l".split()],
        input=b"\n".join(payloads) + b"\n",
        check=True,
    )


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    database: str
    shape: str
    readings: int
    messages: int
    seconds: float
    p99_ms: float
    main_cpu: float  # our event-loop thread: MQTT, decoding, planning
    db_cpu: float  # the SQLite thread, or the PostgreSQL backend serving our connection
    broker_cpu: float
    baseline_msgs_s: float = 0.0
    baseline_cpu: float = 0.0  # mosquitto_sub itself
    baseline_broker_cpu: float = 0.0

    @property
    def readings_s(self) -> float:
        return self.readings / self.seconds

    @property
    def msgs_s(self) -> float:
        return self.messages / self.seconds

    @property
    def ceiling(self) -> float:
        """Readings/s two idle cores would allow: each of loop thread, database and broker is
        single-threaded, and together they share two cores (disk waits ignored). A projection
        from the CPU this run used, not a measurement."""
        parts = (self.main_cpu, self.db_cpu, self.broker_cpu)
        return self.readings / max(*parts, sum(parts) / 2)


async def provision(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO agents (id, name, version, online)"
                    " VALUES ('agent-1', '', '', false)"
                )
            )
            now = datetime.now(UTC)
            await conn.execute(
                text(
                    "INSERT INTO meters (meter_id, serial, protocol, address, agent_id, status,"
                    " relay_control_mode, online, created_at) VALUES (:m, '', 'dlt645', '',"
                    " 'agent-1', 'active', 2, false, :now)"
                ),
                [{"m": f"m{i:04d}", "now": now} for i in range(METERS)],
            )
        async with engine.connect() as conn:  # production: the partition exists before the data
            await ensure_reading_partitions(conn, 0, now=datetime.fromtimestamp(T0 / 1000, UTC))
    finally:
        await engine.dispose()


async def drain_ours(
    database_url: str, broker: Mosquitto, payloads: list[bytes], label: str, data_dir: str
) -> tuple[float, float, float, float, float, int]:
    settings = load_settings(
        env={}, database_url=database_url, mqtt_url=broker.url(Mosquitto.BACKEND), data_dir=data_dir
    )
    cid = f"bench-{label}"

    def ingestor() -> Ingestor:
        return Ingestor(settings, client_id=cid, stats_every_s=3600, housekeeping_every_s=3600)

    first = ingestor()  # creates the persistent session and its subscriptions
    await first.start()
    await asyncio.wait_for(first.mqtt.connected.wait(), 30)
    await first.stop()
    prefill(broker, payloads)
    total = len(payloads)
    ing = ingestor()
    backend_pid = None
    if not database_url.startswith("sqlite"):
        conn = await ing.store._connection()  # type: ignore[attr-defined]
        backend_pid = await conn.fetchval("SELECT pg_backend_pid()")
    broker0 = proc_cpu(broker.process.pid)
    db0 = proc_cpu(backend_pid) if backend_pid else 0.0
    cpu0, main0, t0 = time.process_time(), time.thread_time(), time.perf_counter()
    await ing.start()
    counters = ing.counters
    # polled, not awaited on an event: the check is two attribute reads every 5 ms
    while counters.messages < total or ing.writer.backlog or not ing.writer.idle.is_set():  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - t0
    main = time.thread_time() - main0
    other = time.process_time() - cpu0 - main  # the SQLite thread (idle helpers on PostgreSQL)
    db = proc_cpu(backend_pid) - db0 if backend_pid else other
    broker_cpu = proc_cpu(broker.process.pid) - broker0
    stats = ing.stats()
    if os.environ.get("BENCH_VERBOSE"):
        print(
            "   ",
            {
                k: stats[k]
                for k in (
                    "batches",
                    "commit_p50_ms",
                    "commit_p99_ms",
                    "latency_p50_ms",
                    "latency_p99_ms",
                    "retries",
                )
            },
            flush=True,
        )
    await ing.stop()
    forget_session(broker, cid)
    assert stats["dead_letters"] == 0, stats
    assert stats["duplicates"] == 0, stats
    return seconds, stats["latency_p99_ms"], main, db, broker_cpu, stats["accepted"]


def drain_mosquitto_sub(
    broker: Mosquitto, payloads: list[bytes], label: str
) -> tuple[float, float, float]:
    """Messages per second ``mosquitto_sub`` drains the same queued stream at, its CPU
    seconds and the broker's."""
    cid = f"bench-sub-{label}"
    login = f"-h {broker.host} -p {broker.port} -u {Mosquitto.BACKEND}"
    base = [
        "mosquitto_sub",
        *login.split(),
        *["-P", broker.users[Mosquitto.BACKEND], "-i", cid],
        *f"-c -x 3600 -V mqttv5 -q 1 -t {subscription(Channel.READINGS)}".split(),
    ]
    subprocess.run([*base, "-E"], check=True)
    prefill(broker, payloads)
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    broker0 = proc_cpu(broker.process.pid)
    started = time.perf_counter()
    subprocess.run([*base, "-C", str(len(payloads))], check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    broker_cpu = proc_cpu(broker.process.pid) - broker0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (children.ru_utime - children0.ru_utime) + (children.ru_stime - children0.ru_stime)
    forget_session(broker, cid)
    return len(payloads) / seconds, cpu, broker_cpu


async def scenario(
    database: str, database_url: str, shape: str, payloads: list[bytes], broker: Mosquitto, tmp: str
) -> Result:
    await provision(database_url)
    label = f"{database}-{shape}"
    seconds, p99, main, db, broker_cpu, stored = await drain_ours(
        database_url, broker, payloads, label, tmp
    )
    rate, sub_cpu, sub_broker = drain_mosquitto_sub(broker, payloads, label)
    return Result(
        database,
        shape,
        stored,
        len(payloads),
        seconds,
        p99,
        main,
        db,
        broker_cpu,
        rate,
        sub_cpu,
        sub_broker,
    )


def durable_postgres() -> tuple[object, str]:
    pg = start_postgres(durable=True)  # a benchmark of commits must pay for them
    pg.psql("CREATE DATABASE bench_template")
    migrate.upgrade(pg.url("bench_template"))
    return pg, "bench_template"


def table(results: list[Result]) -> str:
    goals = {"sqlite": 50_000, "postgresql": 30_000}
    lines = [
        "measured (wall clock, connect to last commit):",
        f"  {'database':<11}{'stream':<16}{'readings':>9}{'s':>7}{'readings/s':>11}"
        f"{'msgs/s':>8}{'p99':>7}{'sub msgs/s':>11}{'ours/sub':>9}  goal",
    ]
    for r in results:
        if r.shape == "batched":
            ok, goal = (
                r.readings_s >= goals[r.database],
                f"≥{goals[r.database] // 1000}k readings/s",
            )
        else:
            ok, goal = r.msgs_s >= 5000, "≥5k msgs/s"
        ok = ok and r.p99_ms <= 1000
        shape = "100 per message" if r.shape == "batched" else "1 per message"
        lines.append(
            f"  {r.database:<11}{shape:<16}{r.readings:>9}{r.seconds:>7.1f}{r.readings_s:>11,.0f}"
            f"{r.msgs_s:>8,.0f}{r.p99_ms / 1000:>6.2f}s{r.baseline_msgs_s:>11,.0f}"
            f"{r.msgs_s / r.baseline_msgs_s:>9.2f}  {'met' if ok else 'missed'}: {goal}, p99 ≤ 1 s"
        )
    lines += [
        "",
        "CPU seconds (what the run cost, whatever else the machine was doing):",
        f"  {'database':<11}{'stream':<16}{'loop thread':>12}{'database':>9}{'broker':>7}"
        f"{'µs/reading':>11}{'sub+broker':>11}{'2-core ceiling':>15}",
    ]
    for r in results:
        shape = "100 per message" if r.shape == "batched" else "1 per message"
        per = (r.main_cpu + r.db_cpu) / r.readings * 1e6
        lines.append(
            f"  {r.database:<11}{shape:<16}{r.main_cpu:>12.1f}{r.db_cpu:>9.1f}{r.broker_cpu:>7.1f}"
            f"{per:>11.1f}{r.baseline_cpu + r.baseline_broker_cpu:>11.1f}"
            f"{r.ceiling:>11,.0f} r/s"
        )
    lines.append(
        "  (database: the SQLite writer thread, or the PostgreSQL backend process serving us;"
        "\n   ceiling: readings/s two idle cores would allow, each of loop thread, database and"
        "\n   broker being single-threaded: a projection from this run's CPU, not a measurement)"
    )
    return "\n".join(lines)


async def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a tenth of the default volume")
    p.add_argument("--batched", type=int, default=5000, help="messages of 100 readings (5000)")
    p.add_argument("--single", type=int, default=40000, help="messages of 1 reading (40000)")
    p.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    p.add_argument("--shape", choices=["batched", "single"], help="one stream shape only")
    args = p.parse_args()
    if args.quick:
        args.batched, args.single = args.batched // 10, args.single // 10
    streams = {"batched": batched_stream(args.batched), "single": single_stream(args.single)}
    if args.shape:
        streams = {args.shape: streams[args.shape]}
    settings = load_settings(env={})
    load = os.getloadavg()[0]
    print(
        f"ingest benchmark: {os.cpu_count()} CPUs, load average {load:.1f} at start; batch size"
        f" {settings.ingest_batch_size} readings, batch wait {settings.ingest_batch_ms} ms",
        flush=True,
    )
    broker = start_mosquitto(["agent-1"])
    tmp = tempfile.mkdtemp(prefix="meterline-bench-")
    pg = None
    results: list[Result] = []
    try:
        if args.only in (None, "sqlite"):
            template = Path(tmp) / "template.db"
            migrate.upgrade(f"sqlite+aiosqlite:///{template}")
            for shape, payloads in streams.items():
                db = Path(tmp) / f"{shape}.db"
                shutil.copy(template, db)
                results.append(
                    await scenario(
                        "sqlite", f"sqlite+aiosqlite:///{db}", shape, payloads, broker, tmp
                    )
                )
                print(f"  sqlite {shape}: {results[-1].readings_s:,.0f} readings/s", flush=True)
        if args.only in (None, "postgresql"):
            pg, template_name = durable_postgres()
            for shape, payloads in streams.items():
                name = f"bench_{shape}"
                pg.psql(f"CREATE DATABASE {name} TEMPLATE {template_name}")  # type: ignore[attr-defined]
                url = pg.url(name)  # type: ignore[attr-defined]
                results.append(await scenario("postgresql", url, shape, payloads, broker, tmp))
                print(f"  postgresql {shape}: {results[-1].readings_s:,.0f} readings/s", flush=True)
    finally:
        broker.process.terminate()
        broker.process.wait(timeout=10)
        if pg is not None:
            pg.stop()  # type: ignore[attr-defined]
            shutil.rmtree(pg.directory, ignore_errors=True)  # type: ignore[attr-defined]
        shutil.rmtree(broker.directory, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(table(results))
    load = os.getloadavg()[0]
    print(f"\nload average {load:.1f} at the end (other work on this machine slows every column)")


if __name__ == "__main__":
    asyncio.run(main())
