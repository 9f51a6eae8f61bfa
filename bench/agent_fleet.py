"""Agent fleet: the real edge agent polling 50 Modbus TCP meters every second, end to end.

Simulators (50 sdm630 meters, each on its own TCP port: 50 buses), a private Mosquitto with the
production ACL, and ``python -m edge_agent run`` with its defaults each run in their own
process; a subscriber here decodes every ReadingBatch. Over a fixed window after a warm-up:
points/s at the broker, polls done, agent CPU s per 1,000 points (/proc/<pid>/stat), outbox
depth, latency. Baseline in the same run: ``bench/fleet_baseline.py`` (bare pymodbus, same
meters, reads and cadence). "max" polls every 0.01 s for the ceiling. See docs/edge-agent.md,
"Performance".

Run: ``.venv/bin/python bench/agent_fleet.py`` (about 2.5 minutes; ``--quick`` for a smoke run).
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
AGENT, BACKEND = "agent-1", "meterline-backend"
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


def start_simulators(d: Path, meters: int) -> tuple[subprocess.Popen[bytes], list[dict]]:  # type: ignore[type-arg]
    ready = d / "simulators.json"
    buses = [arg for _ in range(meters) for arg in ("--modbus-tcp", "127.0.0.1:0")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent.simulators", "--seed", "1", "--exact-clocks",
         "--map", "sdm630", "--meters", "1", *buses, "--ready-file", str(ready)],
        stdout=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    wait_for(ready.exists, 60, "simulators")
    time.sleep(0.2)  # the file is written in one call; let it land whole
    return proc, json.loads(ready.read_text())


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
                 every_s: float) -> Path:  # fmt: skip
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
    for i, e in enumerate(endpoints, 1):
        text += f"""
[[buses]]
name = "sdm-{i:02d}"
transport = "tcp"
protocol = "modbus_tcp"
host = "{e["host"]}"
port = {e["port"]}
inter_frame_gap_ms = 0

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


def scrape_polls(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in text.splitlines()
        if line.startswith("meterline_agent_polls_total{") and 'result="ok"' in line
    )


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
    latencies_ms: list[int]

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
              sim: subprocess.Popen[bytes], endpoints: list[dict], sub: Subscriber,  # type: ignore[type-arg]
              mode: str, every_s: float, warmup: float, seconds: float,
              agent_tree: Path) -> Run:  # fmt: skip
    work = d / f"agent-{mode}"
    work.mkdir()
    metrics_port = free_port()
    config = agent_config(work, broker_port, metrics_port, endpoints, every_s)
    log = open(work / "agent.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_agent", "run", "--config", str(config)],
        stdout=log, stderr=log, cwd=agent_tree,
        env={**os.environ, "PYTHONPATH": str(agent_tree)},
    )  # fmt: skip
    try:
        start_points = sub.take()[0]
        wait_for(lambda: sub.take()[0] > start_points, 60, f"the agent's first readings ({mode})")
        time.sleep(warmup)
        db = work / "data" / "agent.db"
        depth_start = depth_max = outbox_depth(db)
        polls0, (points0, messages0, _) = scrape_polls(metrics_port), sub.take()
        cpu0 = (cpu_s(proc.pid), cpu_s(sim.pid), cpu_s(broker.pid))
        t0 = time.monotonic()
        while (left := t0 + seconds - time.monotonic()) > 0:
            time.sleep(min(2.0, left))
            depth_max = max(depth_max, outbox_depth(db))
        cpu1 = (cpu_s(proc.pid), cpu_s(sim.pid), cpu_s(broker.pid))
        points1, messages1, latencies = sub.take()
        polls1, elapsed = scrape_polls(metrics_port), time.monotonic() - t0
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
    return Run(mode, len(endpoints), every_s, elapsed, points1 - points0, polls1 - polls0,
               messages1 - messages0,
               cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2],
               depth_start, depth_end, depth_max, latencies)  # fmt: skip


def run_baseline(ready: Path, every_s: float, warmup: float, seconds: float) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fleet_baseline.py"), "--endpoints", str(ready),
         "--quantities", ",".join(QUANTITIES), "--every", str(every_s),
         "--warmup", str(warmup), "--seconds", str(seconds)],
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
    print("\nagent fleet: python -m edge_agent run, 50 Modbus TCP meters (sdm630, 10 quantities,"
          " 3 block reads a poll),\nMosquitto QoS 1 with ACL, SQLite outbox synchronous=FULL."
          " Baseline: a bare pymodbus loop, same meters,\nsame reads, same cadence, no outbox,"
          " no MQTT.\n")  # fmt: skip

    def per_1k(cpu_s: float, points: float) -> float:
        return cpu_s / (points / 1000) if points else float("inf")

    base = {r.mode: per_1k(baselines[r.mode]["cpu_s"], baselines[r.mode]["points"]) for r in runs}
    rows: list[tuple[str, list[str]]] = [
        ("", [f"{r.mode} (every {r.every_s:g} s)" for r in runs]),
        ("polls scheduled /s", [f"{r.scheduled / r.seconds:,.0f}" for r in runs]),
        ("polls done (of scheduled)",
         [f"{100 * r.polls / r.scheduled:.1f} %" if r.mode == "cadence" else "-" for r in runs]),
        ("  baseline: polls done",
         [f"{100 * baselines[r.mode]['polls'] / baselines[r.mode]['scheduled']:.1f} %"
          if r.mode == "cadence" else "-" for r in runs]),
        ("data points /s at the broker", [f"{r.rate:,.0f}" for r in runs]),
        ("  baseline: data points /s read",
         [f"{baselines[r.mode]['points'] / baselines[r.mode]['seconds']:,.0f}" for r in runs]),
        ("agent CPU, % of one core", [f"{100 * r.agent_cpu_s / r.seconds:.1f} %" for r in runs]),
        ("agent CPU s per 1,000 points", [f"{r.cpu_per_1k:.3f}" for r in runs]),
        ("  baseline CPU s per 1,000 points", [f"{base[r.mode]:.3f}" for r in runs]),
        ("  ratio agent / baseline", [f"{r.cpu_per_1k / base[r.mode]:.2f}" for r in runs]),
        ("points per CPU-second (agent)", [f"{1000 / r.cpu_per_1k:,.0f}" for r in runs]),
        ("  (baseline)", [f"{1000 / base[r.mode]:,.0f}" for r in runs]),
        ("points per MQTT message", [f"{r.points / max(r.messages, 1):.0f}" for r in runs]),
        ("outbox depth start / end / max",
         [f"{r.depth_start} / {r.depth_end} / {r.depth_max}" for r in runs]),
        ("read -> broker latency p50 / p99 ms",
         [f"{percentile(r.latencies_ms, 50):.0f} / {percentile(r.latencies_ms, 99):.0f}"
          for r in runs]),
        ("simulators CPU, % of one core", [f"{100 * r.sim_cpu_s / r.seconds:.1f} %" for r in runs]),
        ("mosquitto CPU, % of one core",
         [f"{100 * r.broker_cpu_s / r.seconds:.1f} %" for r in runs]),
    ]  # fmt: skip
    for label, cells in rows:
        print(f"{label:38}" + "".join(f"{c:>24}" for c in cells))
    print(f"\nratio: lower is better; the agent also stores (fsynced), batches and publishes every"
          f" point. Points per\nCPU-second = what one fully busy core would sustain: the agent's"
          f" ceiling when the simulators and\nthe rest of the machine are not the limit. Load"
          f" average {load[0]:.1f} -> {load[1]:.1f} on {os.cpu_count()} cores (other work slows"
          f" every\nprocess; the ratios are measured under the same load). For scale: published"
          f" reports put today's Python\nIoT gateway (ThingsBoard's) at a few hundred data points"
          f" per second.")  # fmt: skip


def main(args: argparse.Namespace) -> int:
    d = Path(tempfile.mkdtemp(prefix="meterline-fleet-"))
    passwords = {BACKEND: "backend-pw", AGENT: f"{AGENT}-pw"}
    broker, port = start_mosquitto(d, passwords)
    sim, endpoints = start_simulators(d, args.meters)
    sub = Subscriber(port, passwords[BACKEND])
    runs: list[Run] = []
    baselines: dict[str, dict[str, float]] = {}
    load = [os.getloadavg()[0]]
    try:
        modes = [("cadence", args.every, args.seconds, args.baseline_seconds),
                 ("max", args.max_every, args.max_seconds, args.max_seconds)]  # fmt: skip
        for mode, every, seconds, base_seconds in modes:
            print(f"{mode}: agent, every {every} s, {seconds:.0f} s window …", flush=True)
            runs.append(run_agent(d, broker, port, sim, endpoints, sub, mode, every,
                                  args.warmup, seconds, args.agent_tree))  # fmt: skip
            print(f"{mode}: baseline, {base_seconds:.0f} s window …", flush=True)
            base_every = every if mode == "cadence" else 0.0
            baselines[mode] = run_baseline(d / "simulators.json", base_every, args.warmup / 2,
                                           base_seconds)  # fmt: skip
    finally:
        sub.close()
        for proc in (sim, broker):
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
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument(
        "--agent-tree",
        type=Path,
        default=ROOT,
        help="run the agent from this checkout (to compare two versions)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    parser.add_argument("--quick", action="store_true", help="short windows (a smoke run)")
    a = parser.parse_args()
    if a.quick:
        a.seconds, a.baseline_seconds, a.max_seconds, a.warmup = 10, 5, 5, 3
    sys.exit(main(a))
