"""Soak: a real ``meterline serve`` (ingestion and billing on) fed a steady stream for minutes,
watched for memory growth, errors and the publish-to-ledger lag.

    .venv/bin/python bench/soak.py                          # 10 minutes, PostgreSQL, half of max
    .venv/bin/python bench/soak.py --minutes 2 --db sqlite --meters 500
    .venv/bin/python bench/soak.py --rate 400               # a rate of your choosing

1. **The maximum**, measured in the same run: ingestion alone (``bench/meter_to_ledger.py``'s
   drain of a queued stream) into a fresh database — readings/s.
2. **The soak**: a fresh database with N prepaid meters (one account each, the default tariffs),
   ``meterline serve`` as a child process, and agent-1 publishing their ``energy_import`` every
   quarter hour of stream time, 50 meters to a message, QoS 1, at ``--fraction`` of that
   maximum (default 0.5) or at ``--rate``, for ``--minutes``.

Every second the soak reads how far billing has come (the least ``billed_through_ms`` of all
accounts): a quarter hour of stream time is *in the ledger* once every account is billed through
it, and its lag is the time from its publication to then. Every ten seconds it reads the
process's resident memory. At the end: per minute, the readings published, the memory, the lag
p50/p99/max of the quarter hours published in that minute; the errors in the process's log; the
dead letters; the prepaid sweeps the process ran beside billing (every ``--sweep-seconds``
after the last ended), each with the accounts it examined, how long it waited for billing to
catch up and how long it ran; and whether memory stayed within 10 % (the last minute against
the second — the first is warm-up) and the lag steady (the last minute's p99 within twice the
second's).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import meter_to_ledger as m2l  # noqa: E402
import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402
from sqlalchemy import func, select, text  # noqa: E402

from backend.db import create_engine, session_factory  # noqa: E402
from backend.prepaid.models import BillingState  # noqa: E402
from protocols.contract import Quantity, ReadingBatch, Value, encode  # noqa: E402
from tests.support.ingest_agent import forget_session  # noqa: E402
from tests.support.serve_process import ServeProcess  # noqa: E402
from tests.support.services import Mosquitto, start_mosquitto  # noqa: E402

CLIENT = "soak-serve"
# the served process's log line of each prepaid sweep (backend.prepaid.lifespan)
SWEEP = re.compile(r"prepaid sweep: (\d+) accounts .*?, ([\d.]+) s .* after ([\d.]+) s")


def quarter(k: int, meters: int, registers: list[int]) -> list[bytes]:
    """Quarter hour ``k`` of every meter, 50 meters to a message (registers advance in place),
    numbered on from the quarter before, as an agent numbers its messages (a skipped number is
    a gap the backend records)."""
    out, batch = [], []
    ts = m2l.T0 + k * m2l.STEP
    seq = k * math.ceil(meters / m2l.PER_MESSAGE)
    for i in range(meters):
        registers[i] += 150 + (i * 7 + k * 13) % 300
        batch.append(Value(meter=f"p{i:06d}", quantity=Quantity.ENERGY_IMPORT, ts=ts,
                           value=registers[i]))  # fmt: skip
        if len(batch) == m2l.PER_MESSAGE or i == meters - 1:
            seq += 1
            out.append(encode(ReadingBatch(agent="agent-1", seq=seq, values=batch)))
            batch = []
    return out


def publish(broker: Any, meters: int, steps: int, rate: float, published: list[float],
            stop: threading.Event) -> None:  # fmt: skip
    """agent-1 at ``rate`` readings/s; ``published[k]`` is when quarter hour k was all sent."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="soak-agent",
                         protocol=mqtt.MQTTv5)  # fmt: skip
    client.username_pw_set("agent-1", broker.users["agent-1"])
    client.connect(broker.host, broker.port)
    client.loop_start()
    registers = [0] * meters
    try:
        start, sent = time.perf_counter(), 0
        for k in range(steps):
            for payload in quarter(k, meters, registers):
                if stop.is_set():
                    return
                wait = start + sent / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                client.publish(m2l.TOPIC, payload, qos=1).wait_for_publish(60)
                sent += m2l.PER_MESSAGE
            published.append(time.time())
    finally:
        client.disconnect()
        client.loop_stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(xs: list[float], q: float) -> float:
    return m2l.pct(xs, q)


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10)
    p.add_argument("--meters", type=int, default=1000)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    p.add_argument("--fraction", type=float, default=0.5, help="of ingestion alone's maximum")
    p.add_argument("--rate", type=float, help="readings/s (instead of a fraction of the max)")
    p.add_argument(
        "--sweep-seconds", type=int, default=60,
        help="the prepaid sweep's period in the served process",
    )  # fmt: skip
    args = p.parse_args()
    broker = start_mosquitto(["agent-1"])
    tmp = tempfile.mkdtemp(prefix="bench-soak-")
    pg: Any = None
    serve: ServeProcess | None = None
    stop = threading.Event()
    try:
        urls, pg = m2l.fresh_databases(args.db, tmp, ("alone", "soak"))
        calibration = m2l.stream(args.meters, max(4, 30_000 // args.meters))
        alone = await m2l.drain(urls[0], broker, calibration, "soak-alone", tmp, whole=False,
                                meters=args.meters, last_ts=0)  # fmt: skip
        rate = args.rate or alone.rate * args.fraction
        seconds = args.minutes * 60
        steps = max(2, math.ceil(rate * seconds / args.meters))
        print(f"ingestion alone: {alone.rate:,.0f} readings/s; soak at {rate:,.0f} readings/s, "
              f"{args.meters} meters, {steps} quarter hours, {seconds:.0f} s, {args.db}",
              flush=True)  # fmt: skip

        engine = create_engine(urls[1])
        await m2l.provision(engine, args.meters)
        sessions = session_factory(engine)
        serve = ServeProcess(
            Path(tmp) / "serve", database_url=urls[1], mqtt_url=broker.url(Mosquitto.BACKEND),
            mqtt_client_id=CLIENT, jwt_secret="s" * 40,
            prepaid_sweep_seconds=str(args.sweep_seconds), timezone=m2l.TZ,
        )  # fmt: skip
        await asyncio.to_thread(serve.wait_health, "mqtt", "connected", 120)
        published: list[float] = []
        billed_at: dict[int, float] = {}  # quarter hour -> when every account was billed for it
        memory: list[tuple[float, float]] = []
        t0 = time.time()
        writer = asyncio.create_task(
            asyncio.to_thread(publish, broker, args.meters, steps, rate, published, stop)
        )
        last_memory = 0.0
        while len(billed_at) < steps:
            now = time.time()
            if now - last_memory >= 10:
                memory.append((now - t0, rss_mb(serve.proc.pid)))
                last_memory = now
            assert serve.proc.poll() is None, serve.output[-3000:]
            async with sessions() as s:
                through = await s.scalar(select(func.min(BillingState.billed_through_ms)))
                n = await s.scalar(select(func.count()).select_from(BillingState))
            if through is not None and n == args.meters:
                k = (through - m2l.T0) // m2l.STEP
                for j in range(k + 1):
                    billed_at.setdefault(j, now)
            if writer.done() and now - published[-1] > 600:
                print("billing did not catch up within 10 minutes of the end", flush=True)
                break
            await asyncio.sleep(1.0)
        await writer
        async with engine.connect() as conn:
            dead = (await conn.execute(text("SELECT count(*) FROM dead_letters"))).scalar_one()
        await engine.dispose()
    finally:
        stop.set()
        if serve is not None:
            serve.stop()
        forget_session(broker, CLIENT)
        broker.process.terminate()
        if pg is not None:
            pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    errors = [i for i, ln in enumerate(serve.lines) if " ERROR " in ln or "Traceback" in ln]
    lags = {k: billed_at[k] - published[k] for k in range(len(published)) if k in billed_at}
    print(f"\n  {'minute':>6}{'published r/s':>14}{'RSS MB':>8}{'lag p50':>9}{'p99':>7}{'max':>7}")
    # the run's whole minutes: a publication or a memory sample a moment past the end (the
    # publisher's last quarter hour) counts in the last one, not in a minute of its own
    minutes: int = max(1, math.ceil(seconds / 60))

    def minute(at: float) -> int:
        return min(int(at // 60), minutes - 1)

    rows: list[tuple[float, float]] = []
    for m in range(minutes):
        ks = [k for k in lags if minute(published[k] - t0) == m]
        mem = [mb for at, mb in memory if minute(at) == m]
        xs = [lags[k] for k in ks]
        rss = sum(mem) / len(mem) if mem else float("nan")
        rows.append((rss, pct(xs, 0.99)))
        p50, p99, top = pct(xs, 0.5), pct(xs, 0.99), max(xs, default=0)
        print(f"  {m + 1:>6}{len(ks) * args.meters / 60:>14,.0f}{rss:>8.0f}"
              f"{p50:>8.1f}s{p99:>6.1f}s{top:>6.1f}s")  # fmt: skip
    unbilled = len(published) - len(lags)
    sweeps = [m.groups() for ln in serve.lines if (m := SWEEP.search(ln))]
    print(f"\n  errors in the log: {len(errors)}; dead letters: {dead}; "
          f"quarter hours never in the ledger: {unbilled}; prepaid sweeps: {len(sweeps)} "
          f"({args.sweep_seconds} s after the last)")  # fmt: skip
    if sweeps:  # each: how long it waited for billing, then how long it ran
        print("  sweeps (accounts examined, waited for billing, ran): " + ", ".join(
            f"{n} / {w} s / {r} s" for n, r, w in sweeps
        ))  # fmt: skip
    if len(rows) >= 3:
        growth = rows[-1][0] / rows[1][0] - 1
        print(f"  memory: {rows[1][0]:.0f} MB in minute 2, {rows[-1][0]:.0f} MB in the last "
              f"({growth:+.1%}): {'flat' if abs(growth) <= 0.10 else 'NOT flat'} within 10 %; "
              f"lag p99 {rows[1][1]:.1f} s → {rows[-1][1]:.1f} s: "
              f"{'steady' if rows[-1][1] <= 2 * max(rows[1][1], 1.0) else 'GROWING'}")  # fmt: skip
    for i in errors[:3]:  # each with what led to it and what followed (a traceback's frames)
        print("\n" + "".join("  | " + ln for ln in serve.lines[max(0, i - 2) : i + 40]), end="")


if __name__ == "__main__":
    asyncio.run(main())
