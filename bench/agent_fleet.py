"""Agent fleet: the real edge agent polling simulated Modbus TCP meters, end to end.

Simulators (sdm630 meters, each on its own TCP port: one bus each), a private Mosquitto with the
production ACL, and ``python -m edge_agent run`` with its defaults each run in their own
process; a subscriber here decodes every ReadingBatch. Over a fixed window after a warm-up:
points/s at the broker, polls done, agent CPU s per 1,000 points (/proc/<pid>/stat), outbox
depth, outbox commits (fsyncs) per message and per 1,000 points, read-to-PUBACK latency.
Baseline in the same run: ``bench/fleet_baseline.py`` (bare pymodbus, same meters, reads and
cadence). Three configurations: "cadence" (50 meters every
1 s), "max" (50 meters every 0.01 s: the ceiling) and "overload" (200 meters asking twice what
the agent delivered in max mode, or every 0.1 s without a max run: more than it can carry, to
show that it polls less often instead of queueing). The overload baseline also publishes each
poll (QoS 1), so the agent's read-to-PUBACK p50 / p99 and CPU-s per 1,000 points are given as
ratios to it. See docs/edge-agent.md, "Performance".

Run: ``.venv/bin/python bench/agent_fleet.py`` (about 5 minutes; ``--quick`` for a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols.contract import Channel, ReadingBatch, agent_topic, decode

ROOT = Path(__file__).resolve().parents[1]
AGENT, BACKEND, BASELINE = "agent-1", "meterline-backend", "bench-baseline"
# Ten quantities an operator watches on a three-phase panel meter (sdm630: three block reads).
QUANTITIES = ["voltage_a", "voltage_b", "voltage_c", "current_a", "current_b", "current_c",
              "active_power", "frequency", "energy_import", "energy_export"]  # fmt: skip
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """utime + stime of a running process, in seconds (every thread of it)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def start_mosquitto(d: Path, passwords: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    passwd = d / "passwd"
    passwd.touch()
    for user, pw in passwords.items():
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, pw], check=True)
    shutil.copy(ROOT / "deploy" / "mosquitto" / "acl", d / "acl")
    port = free_port()
    (d / "mosquitto.conf").write_text(
        f"per_listener_settings false\nallow_anonymous false\npassword_file {passwd}\n"
        f"acl_file {d / 'acl'}\nlistener {port} 127.0.0.1\npersistence false\n"
        "max_inflight_messages 100\nmax_queued_messages 1000000\n"
    )
    for f in [d, *d.iterdir()]:
        os.chmod(f, 0o755 if f.is_dir() else 0o644)
    log = open(d / "mosquitto.log", "wb")  # noqa: SIM115 - kept open for the process's life
    proc = subprocess.Popen([binary, "-c", str(d / "mosquitto.conf")], stdout=log, stderr=log)

    def listening() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    wait_for(listening, 20, "mosquitto")
    return proc, port


def start_simulators(
    d: Path, meters: int, processes: int
) -> tuple[list[subprocess.Popen[bytes]], list[dict]]:  # type: ignore[type-arg]
    """``meters`` simulated meters, each on its own port, spread over ``processes`` processes
    (one Python process cannot answer 200 meters every 0.1 s)."""
    procs, endpoints = [], []
    shares = [meters // processes + (i < meters % processes) for i in range(processes)]
    for i, share in enumerate(s for s in shares if s):
        ready = d / f"simulators-{i}.json"
        buses = [arg for _ in range(share) for arg in ("--modbus-tcp", "127.0.0.1:0")]
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "edge_agent.simulators", "--seed", str(1 + i),
             "--exact-clocks", "--map", "sdm630", "--meters", "1", *buses,
             "--ready-file", str(ready)],
            stdout=subprocess.DEVNULL, cwd=ROOT,
        ))  # fmt: skip
    for i in range(len(procs)):
        ready = d / f"simulators-{i}.json"
        wait_for(ready.exists, 60, "simulators")
        time.sleep(0.2)  # the file is written in one call; let it land whole
        endpoints += json.loads(ready.read_text())
    return procs, endpoints


class Subscriber:
    """The backend's side: every ReadingBatch decoded, values counted on arrival."""

    def __init__(self, port: int, password: str) -> None:
        self.lock = threading.Lock()
        self.points = 0
        self.messages = 0
        self.latencies_ms: list[int] = []
        self.subscribed = threading.Event()
        c = self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )  # fmt: skip
        c.username_pw_set(BACKEND, password)
        c.on_message = self._message
        c.on_subscribe = lambda *_a: self.subscribed.set()
        c.on_connect = lambda c, *_a: c.subscribe(agent_topic(AGENT, Channel.READINGS), qos=1)
        c.connect("127.0.0.1", port)
        c.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("the subscriber was not subscribed within 10 s")

    def _message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        batch: ReadingBatch = decode(bytes(msg.payload), ReadingBatch)
        now = time.time_ns() // 1_000_000
        with self.lock:
            self.points += len(batch.values)
            self.messages += 1
            self.latencies_ms.extend(now - v.ts for v in batch.values)

    def take(self) -> tuple[int, int, list[int]]:
        """Points and messages so far, and the latencies since the last call."""
        with self.lock:
            latencies, self.latencies_ms = self.latencies_ms, []
            return self.points, self.messages, latencies

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def agent_config(d: Path, broker_port: int, metrics_port: int, endpoints: list[dict],  # type: ignore[type-arg]
                 every_s: float, pipeline: bool = False) -> Path:  # fmt: skip
    (d / "mqtt-password").write_text(f"{AGENT}-pw")
    quantities = ", ".join(f'"{q}"' for q in QUANTITIES)
    text = f"""
agent_id = "{AGENT}"
data_dir = "{d / "data"}"
log_level = "INFO"

[broker]
host = "127.0.0.1"
port = {broker_port}
password_file = "{d / "mqtt-password"}"

[metrics]
listen = "127.0.0.1:{metrics_port}"
"""
    pipelined = "\npipeline = true" if pipeline else ""
    for i, e in enumerate(endpoints, 1):
        text += f"""
[[buses]]
name = "sdm-{i:02d}"
transport = "tcp"
protocol = "modbus_tcp"
host = "{e["host"]}"
port = {e["port"]}
inter_frame_gap_ms = 0{pipelined}

  [[buses.groups]]
  name = "instant"
  every_s = {every_s}
  quantities = [{quantities}]

  [[buses.meters]]
  id = "sdm-{i:02d}"
  unit = {e["meters"][0]}
  map = "sdm630"
"""
    path = d / "agent.toml"
    path.write_text(text)
    return path


@dataclass
class Scrape:
    """What the agent's /metrics says at one moment."""

    polls_ok: int
    puback_buckets: dict[float, float]  # le -> cumulative count (read -> PUBACK, per reading)
    stretch: list[float]  # per (bus, group)
    commits: float  # outbox transactions committed (nan: an agent without the metric)

    @staticmethod
    def of(port: int) -> Scrape:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
        polls, buckets, stretch, commits = 0, {}, [], float("nan")
        for line in text.splitlines():
            if line.startswith("#"):
                continue
            name, _, number = line.rpartition(" ")
            if name.startswith("meterline_agent_polls_total{") and 'result="ok"' in name:
                polls += int(float(number))
            elif name.startswith("meterline_agent_read_to_puback_seconds_bucket{"):
                le = name.partition('le="')[2].partition('"')[0]
                buckets[float(le)] = float(number)
            elif name.startswith("meterline_agent_poll_stretch{"):
                stretch.append(float(number))
            elif name == "meterline_agent_outbox_commits_total":
                commits = float(number)
        return Scrape(polls, buckets, stretch, commits)


def histogram_quantile(start: dict[float, float], end: dict[float, float], q: float) -> float:
    """The q-quantile of what a Prometheus histogram counted between two scrapes (linear
    within a bucket, as PromQL's histogram_quantile); nan without data."""
    bounds = sorted(end)
    counts = [end[b] - start.get(b, 0.0) for b in bounds]
    if not counts or counts[-1] <= 0:
        return float("nan")
    rank, lower, below = q * counts[-1], 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = bound, count
    return lower


def outbox_depth(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


@dataclass
class Run:
    mode: str
    meters: int
    every_s: float
    seconds: float
    points: int
    polls: int
    messages: int
    agent_cpu_s: float
    sim_cpu_s: float
    broker_cpu_s: float
    depth_start: int
    depth_end: int
    depth_max: int
    latencies_ms: list[int]  # read -> arrival at the subscriber, per reading
    puback_p50_s: float  # read -> PUBACK at the agent (its histogram; nan if it has none)
    puback_p99_s: float
    stretch_max: float  # the largest stretch factor of any group at the end (nan: no metric)
    commits: float  # outbox commits (fsyncs) in the window (nan: no metric)

    @property
    def scheduled(self) -> float:
        return self.meters * self.seconds / self.every_s

    @property
    def rate(self) -> float:
        return self.points / self.seconds

    @property
    def cpu_per_1k(self) -> float:
        return self.agent_cpu_s / (self.points / 1000) if self.points else float("inf")


def run_agent(d: Path, broker: subprocess.Popen[bytes], broker_port: int,
              sims: list[subprocess.Popen[bytes]], endpoints: list[dict], sub: Subscriber,  # type: ignore[type-arg]
              mode: str, every_s: float, warmup: float, seconds: float,
              agent_tree: Path, pipeline: bool = False) -> Run:  # fmt: skip
    work = d / f"agent-{mode}"
    work.mkdir()
    metrics_port = free_port()
    config = agent_config(work, broker_port, metrics_port, endpoints, every_s, pipeline)
    log = open(work / "agent.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        stdout=log, stderr=log, cwd=agent_tree,
        env={**os.environ, "PYTHONPATH": str(agent_tree)},
    )  # fmt: skip

    def sim_cpu() -> float:
        return sum(cpu_s(p.pid) for p in sims)

    try:
        start_points = sub.take()[0]
        wait_for(lambda: sub.take()[0] > start_points, 60, f"the agent's first readings ({mode})")
        time.sleep(warmup)
        db = work / "data" / "agent.db"
        depth_start = depth_max = outbox_depth(db)
        scrape0, (points0, messages0, _) = Scrape.of(metrics_port), sub.take()
        cpu0 = (cpu_s(proc.pid), sim_cpu(), cpu_s(broker.pid))
        t0 = time.monotonic()
        while (left := t0 + seconds - time.monotonic()) > 0:
            time.sleep(min(2.0, left))
            depth_max = max(depth_max, outbox_depth(db))
        cpu1 = (cpu_s(proc.pid), sim_cpu(), cpu_s(broker.pid))
        points1, messages1, latencies = sub.take()
        scrape1, elapsed = Scrape.of(metrics_port), time.monotonic() - t0
        depth_end = outbox_depth(db)
        depth_max = max(depth_max, depth_end)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            print(f"{mode}: the agent did not stop within 30 s of SIGTERM; killed", flush=True)
        log.close()
    if proc.returncode not in (0, -signal.SIGKILL):
        raise RuntimeError(f"the agent exited {proc.returncode}; see {work / 'agent.log'}")
    b0, b1 = scrape0.puback_buckets, scrape1.puback_buckets
    return Run(mode, len(endpoints), every_s, elapsed, points1 - points0,
               scrape1.polls_ok - scrape0.polls_ok, messages1 - messages0,
               cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2],
               depth_start, depth_end, depth_max, latencies,
               histogram_quantile(b0, b1, 0.5), histogram_quantile(b0, b1, 0.99),
               max(scrape1.stretch, default=float("nan")),
               scrape1.commits - scrape0.commits)  # fmt: skip


def run_baseline(d: Path, mode: str, endpoints: list[dict], every_s: float, warmup: float,  # type: ignore[type-arg]
                 seconds: float, mqtt_port: int | None = None) -> dict[str, float]:  # fmt: skip
    """The bare pymodbus loop; with ``mqtt_port`` it also publishes each poll QoS 1 and
    measures read -> PUBACK (the overload configuration's latency baseline)."""
    ready = d / f"baseline-{mode}.json"
    ready.write_text(json.dumps(endpoints))
    publish: list[str] = []
    if mqtt_port is not None:
        (d / "baseline-password").write_text(f"{BASELINE}-pw")
        publish = ["--mqtt", str(mqtt_port), "--user", BASELINE,
                   "--password-file", str(d / "baseline-password")]  # fmt: skip
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet_baseline.py"), "--endpoints", str(ready),
         "--quantities", ",".join(QUANTITIES), "--every", str(every_s),
         "--warmup", str(warmup), "--seconds", str(seconds), *publish],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"the baseline failed ({out.returncode}):\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def percentile(values: list[int], p: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def report(runs: list[Run], baselines: dict[str, dict[str, float]], load: list[float]) -> None:
    print("\nagent fleet: python -m edge_agent run, Modbus TCP meters (sdm630, 10 quantities,"
          " 3 block reads a poll),\nMosquitto QoS 1 with ACL, SQLite outbox synchronous=FULL."
          " Baseline: a bare pymodbus loop, same meters,\nsame reads, same cadence, no outbox;"
          " no MQTT, except in overload, where it publishes each poll\n(JSON, QoS 1, paho) and"
          " measures read -> PUBACK.\n")  # fmt: skip

    def per_1k(cpu_s: float, points: float) -> float:
        return cpu_s / (points / 1000) if points else float("inf")

    base = {r.mode: per_1k(baselines[r.mode]["cpu_s"], baselines[r.mode]["points"]) for r in runs}
    asked = {r.mode: r.meters * len(QUANTITIES) / r.every_s for r in runs}
    paced = ("cadence", "overload")
    rows: list[tuple[str, list[str]]] = [
        ("", [f"{r.mode}: {r.meters} x {r.every_s:g} s" for r in runs]),
        ("polls scheduled /s", [f"{r.scheduled / r.seconds:,.0f}" for r in runs]),
        ("data points asked /s", [f"{asked[r.mode]:,.0f}" for r in runs]),
        ("polls done (of scheduled)",
         [f"{100 * r.polls / r.scheduled:.1f} %" if r.mode in paced else "-" for r in runs]),
        ("  baseline: polls done",
         [f"{100 * baselines[r.mode]['polls'] / baselines[r.mode]['scheduled']:.1f} %"
          if r.mode in paced else "-" for r in runs]),
        ("data points /s delivered (at the broker)", [f"{r.rate:,.0f}" for r in runs]),
        ("  baseline: data points /s read",
         [f"{baselines[r.mode]['points'] / baselines[r.mode]['seconds']:,.0f}" for r in runs]),
        ("asked / delivered", [f"{asked[r.mode] / max(r.rate, 1):.2f}" for r in runs]),
        ("agent CPU, % of one core", [f"{100 * r.agent_cpu_s / r.seconds:.1f} %" for r in runs]),
        ("agent CPU s per 1,000 points", [f"{r.cpu_per_1k:.3f}" for r in runs]),
        ("  baseline CPU s per 1,000 points", [f"{base[r.mode]:.3f}" for r in runs]),
        ("  ratio agent / baseline", [f"{r.cpu_per_1k / base[r.mode]:.2f}" for r in runs]),
        ("points per CPU-second (agent)", [f"{1000 / r.cpu_per_1k:,.0f}" for r in runs]),
        ("  (baseline)", [f"{1000 / base[r.mode]:,.0f}" for r in runs]),
        ("points per MQTT message", [f"{r.points / max(r.messages, 1):.0f}" for r in runs]),
        ("outbox commits (fsyncs) per message, per 1,000 points",
         [f"{r.commits / max(r.messages, 1):.2f}, {r.commits / max(r.points / 1000, 1e-9):.1f}"
          for r in runs]),
        ("outbox depth start / end / max",
         [f"{r.depth_start} / {r.depth_end} / {r.depth_max}" for r in runs]),
        ("read -> PUBACK p50 / p99 ms (agent)",
         [f"{1000 * r.puback_p50_s:.0f} / {1000 * r.puback_p99_s:.0f}" for r in runs]),
        ("read -> subscriber p50 / p99 ms",
         [f"{percentile(r.latencies_ms, 50):.0f} / {percentile(r.latencies_ms, 99):.0f}"
          for r in runs]),
        ("  baseline: read -> PUBACK p50 / p99 ms",
         [f"{baselines[r.mode]['puback_p50_ms']:.0f} / {baselines[r.mode]['puback_p99_ms']:.0f}"
          if "puback_p50_ms" in baselines[r.mode] else "-" for r in runs]),
        ("  ratio agent / baseline p50, p99",
         [f"{1000 * r.puback_p50_s / baselines[r.mode]['puback_p50_ms']:.2f}, "
          f"{1000 * r.puback_p99_s / baselines[r.mode]['puback_p99_ms']:.2f}"
          if "puback_p50_ms" in baselines[r.mode] else "-" for r in runs]),
        ("largest stretch factor at the end", [f"{r.stretch_max:.2f}" for r in runs]),
        ("simulators CPU, % of one core", [f"{100 * r.sim_cpu_s / r.seconds:.1f} %" for r in runs]),
        ("mosquitto CPU, % of one core",
         [f"{100 * r.broker_cpu_s / r.seconds:.1f} %" for r in runs]),
    ]  # fmt: skip
    for label, cells in rows:
        print(f"{label:42}" + "".join(f"{c:>24}" for c in cells))
    print(f"\nratio: lower is better; the agent also stores (fsynced), batches and publishes every"
          f" point. Points per\nCPU-second = what one fully busy core would sustain: the agent's"
          f" ceiling when the simulators and\nthe rest of the machine are not the limit. Load"
          f" average {load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} cores (other work slows"
          f" every\nprocess; the ratios are measured under the same load). read -> PUBACK is the"
          f" agent's own histogram\n(per reading; nan: an agent without it); read -> subscriber"
          f" is measured here, per reading.")  # fmt: skip


def overload_interval(runs: list[Run], meters: int, factor: float) -> float:
    """The poll interval that asks ``factor`` × what the agent carried in this run's max mode
    (its ceiling here, measured minutes ago on the same machine); 0.1 s without a max run."""
    carried = next((r.rate for r in runs if r.mode == "max" and r.rate > 0), None)
    if carried is None:
        return 0.1
    return round(meters * len(QUANTITIES) / (factor * carried), 3)


def main(args: argparse.Namespace) -> int:
    d = Path(tempfile.mkdtemp(prefix="meterline-fleet-"))
    passwords = {BACKEND: "backend-pw", AGENT: f"{AGENT}-pw", BASELINE: f"{BASELINE}-pw"}
    broker, port = start_mosquitto(d, passwords)
    modes = [("cadence", args.meters, args.every, args.seconds, args.baseline_seconds),
             ("max", args.meters, args.max_every, args.max_seconds, args.max_seconds),
             ("overload", args.overload_meters, args.overload_every, args.overload_seconds,
              args.max_seconds)]  # fmt: skip
    modes = [m for m in modes if m[0] in args.modes]
    sims, endpoints = start_simulators(d, max(m[1] for m in modes), args.sim_processes)
    sub = Subscriber(port, passwords[BACKEND])
    runs: list[Run] = []
    baselines: dict[str, dict[str, float]] = {}
    load = [os.getloadavg()[0]]
    try:
        for mode, meters, every, seconds, base_seconds in modes:
            if mode == "overload" and every is None:
                every = overload_interval(runs, meters, args.overload_factor)
            print(f"{mode}: agent, {meters} meters every {every} s, {seconds:.0f} s window …",
                  flush=True)  # fmt: skip
            runs.append(run_agent(d, broker, port, sims, endpoints[:meters], sub, mode, every,
                                  args.warmup, seconds, args.agent_tree,
                                  args.pipeline))  # fmt: skip
            print(f"{mode}: baseline, {base_seconds:.0f} s window …", flush=True)
            base_every = 0.0 if mode == "max" else every
            baselines[mode] = run_baseline(d, mode, endpoints[:meters], base_every,
                                           args.warmup / 2, base_seconds,
                                           port if mode == "overload" else None)  # fmt: skip
    finally:
        sub.close()
        for proc in (*sims, broker):
            proc.terminate()
            proc.wait(10)
    load.append(os.getloadavg()[0])
    report(runs, baselines, load)
    if not args.keep:
        shutil.rmtree(d, ignore_errors=True)
    else:
        print(f"\nlogs and databases kept in {d}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--every", type=float, default=1.0, help="poll interval, cadence mode")
    parser.add_argument("--seconds", type=float, default=60.0, help="agent window, cadence mode")
    parser.add_argument("--baseline-seconds", type=float, default=15.0)
    parser.add_argument("--max-every", type=float, default=0.01, help="poll interval, max mode")
    parser.add_argument("--max-seconds", type=float, default=15.0)
    parser.add_argument("--overload-meters", type=int, default=200)
    parser.add_argument(
        "--overload-every",
        type=float,
        default=None,
        help="poll interval, overload mode (default: ask --overload-factor x what the max mode "
        "delivered; 0.1 s if max mode is not run)",
    )
    parser.add_argument("--overload-factor", type=float, default=2.0)
    parser.add_argument("--overload-seconds", type=float, default=40.0)
    parser.add_argument("--sim-processes", type=int, default=4, help="simulator processes")
    parser.add_argument("--modes", default="cadence,max,overload", help="comma-separated")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--agent-tree",
        type=Path,
        default=ROOT,
        help="run the agent from this checkout (to compare two versions)",
    )
    parser.add_argument(
        "--pipeline",
        action="store_true",
        help="buses with pipeline = true (a poll's reads at once)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke run)")
    a = parser.parse_args()
    a.modes = a.modes.split(",")
    if a.quick:
        a.seconds, a.baseline_seconds, a.max_seconds, a.warmup = 10, 5, 5, 3
        a.overload_seconds = 10
    sys.exit(main(a))
