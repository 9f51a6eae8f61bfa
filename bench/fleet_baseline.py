"""The baseline of ``bench/agent_fleet.py``: the least a Python program can do to poll the same
Modbus TCP meters for the same registers at the same cadence — one pymodbus client per meter,
one asyncio task per meter, the same block reads the agent plans, float32 decoded with
``struct``. No outbox, no MQTT, no durability, no timestamps kept: what is left of the agent's
work when everything that makes a reading safe and useful is taken away.

With ``--mqtt PORT`` (agent_fleet.py's overload configuration) each poll's values are also
published, one JSON message per poll, QoS 1, through paho to the same broker, and the time from
a poll's last reply to its PUBACK is measured: the least a Python program pays for getting a
reading acknowledged, under the same load, to compare the agent's read -> PUBACK latency with.

Run by agent_fleet.py in its own process (so its CPU time is its own); prints one JSON line:
data points decoded, polls done and scheduled, and CPU seconds, all within the window (and,
publishing, the read -> PUBACK p50 and p99 in ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import threading
import time
from pathlib import Path

import msgspec
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from protocols.modbus import Function, load_map, plan_spans

_FLOAT = struct.Struct(">f")
_WORDS = struct.Struct(">HH")


def plan(quantities: list[str], unit: int) -> tuple[list[tuple[int, int]], list[int]]:
    """The agent's block reads for these quantities of sdm630 (start, count), and where each
    quantity's two registers sit (offsets into the concatenated replies)."""
    rmap = load_map("sdm630")
    registers = [r for r in rmap.registers if r.quantity.value in quantities]
    spans = [(Function.INPUT, r.address, r.count) for r in registers]
    requests = plan_spans(spans, unit=unit, max_registers=rmap.max_registers, max_gap=rmap.max_gap)
    offsets, base = [], 0
    blocks = []
    for request in requests:
        blocks.append((request.start, request.count))
        for r in registers:
            if request.start <= r.address < request.stop:
                offsets.append(base + r.address - request.start)
        base += request.count
    return blocks, offsets


class Publisher:
    """One paho client (its own network thread, as the agent's); read -> PUBACK per message."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.topic = f"meterline/v1/agents/{user}/events"
        self.lock = threading.Lock()
        self.sent: dict[int, float] = {}
        self.early: dict[int, float] = {}
        self.latencies_ms: list[float] = []
        self.recording = False
        connected = threading.Event()
        c = self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-baseline")
        c.max_inflight_messages_set(100)
        c.max_queued_messages_set(0)
        c.username_pw_set(user, password)
        c.on_connect = lambda *_a: connected.set()
        c.on_publish = self._acked
        c.connect("127.0.0.1", port)
        c.loop_start()
        if not connected.wait(10):
            raise TimeoutError("the baseline's MQTT client did not connect within 10 s")

    def publish(self, read_at: float, values: list[float]) -> None:
        # Not under self.lock: paho holds its own lock while it calls _acked (lock order).
        info = self.client.publish(self.topic, _JSON.encode(values), qos=1)
        with self.lock:
            acked_at = self.early.pop(info.mid, None)
            if acked_at is None:
                self.sent[info.mid] = read_at
            elif self.recording:
                self.latencies_ms.append(1000 * (acked_at - read_at))

    def _acked(self, _c: object, _u: object, mid: int, *_rest: object) -> None:
        now = time.monotonic()
        with self.lock:
            read_at = self.sent.pop(mid, None)
            if read_at is None:  # acknowledged before publish() returned
                self.early[mid] = now
            elif self.recording:
                self.latencies_ms.append(1000 * (now - read_at))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


_JSON = msgspec.json.Encoder()


class Meter:
    publisher: Publisher | None = None

    def __init__(self, host: str, port: int, unit: int, quantities: list[str]) -> None:
        self.client = AsyncModbusTcpClient(host, port=port, timeout=1, retries=0)
        self.unit = unit
        self.blocks, self.offsets = plan(quantities, unit)
        self.points = 0
        self.polls = 0
        self.failed = 0

    async def poll(self) -> None:
        words: list[int] = []
        try:
            if not self.client.connected:
                await self.client.connect()
            for start, count in self.blocks:
                rr = await self.client.read_input_registers(start, count=count, device_id=self.unit)
                words += rr.registers
        except ModbusException:  # a timeout on a loaded machine: this poll is lost, go on
            self.failed += 1
            return
        values = [_FLOAT.unpack(_WORDS.pack(words[o], words[o + 1]))[0] for o in self.offsets]
        if self.publisher is not None:
            self.publisher.publish(time.monotonic(), values)
        self.points += len(values)
        self.polls += 1

    async def run(self, every_s: float, stop_at: float) -> None:
        await self.client.connect()
        due = time.monotonic()
        while (now := time.monotonic()) < stop_at:
            if due > now:
                await asyncio.sleep(due - now)
            started = time.monotonic()
            await self.poll()
            due = max(started, due) + every_s  # as the agent: behind schedule skips, no burst
        self.client.close()


async def main(endpoints: list[dict], qs: list[str], every_s: float, warmup: float,  # type: ignore[type-arg]
               seconds: float, publisher: Publisher | None = None) -> dict[str, float]:  # fmt: skip
    Meter.publisher = publisher
    meters = [Meter(e["host"], e["port"], int(u), qs) for e in endpoints for u in e["meters"]]
    stop_at = time.monotonic() + warmup + seconds
    tasks = [asyncio.create_task(m.run(every_s, stop_at)) for m in meters]
    await asyncio.sleep(warmup)
    points, polls = sum(m.points for m in meters), sum(m.polls for m in meters)
    cpu, started = time.process_time(), time.monotonic()
    if publisher is not None:
        publisher.recording = True
    await asyncio.sleep(seconds)
    cpu, elapsed = time.process_time() - cpu, time.monotonic() - started
    if publisher is not None:
        publisher.recording = False
    result = {
        "points": sum(m.points for m in meters) - points,
        "polls": sum(m.polls for m in meters) - polls,
        "failed": sum(m.failed for m in meters),
        "scheduled": len(meters) * elapsed / every_s if every_s else 0,
        "cpu_s": cpu,
        "seconds": elapsed,
    }
    if publisher is not None:
        with publisher.lock:
            latencies = publisher.latencies_ms
        cuts = statistics.quantiles(latencies, n=100, method="inclusive") if latencies else []
        result["puback_p50_ms"] = cuts[49] if cuts else float("nan")
        result["puback_p99_ms"] = cuts[98] if cuts else float("nan")
    await asyncio.gather(*tasks)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoints", type=Path, required=True, help="the simulators' ready file")
    parser.add_argument("--quantities", required=True, help="comma-separated sdm630 quantities")
    parser.add_argument("--every", type=float, default=1.0, help="poll interval; 0 = back to back")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--mqtt", type=int, help="publish each poll QoS 1 to this broker port")
    parser.add_argument("--user", default="bench-baseline")
    parser.add_argument("--password-file", type=Path)
    a = parser.parse_args()
    endpoints = json.loads(a.endpoints.read_text())
    publisher = None
    if a.mqtt:
        assert a.password_file is not None, "--mqtt needs --password-file"
        publisher = Publisher(a.mqtt, a.user, a.password_file.read_text().strip())
    out = asyncio.run(
        main(endpoints, a.quantities.split(","), a.every, a.warmup, a.seconds, publisher)
    )
    if publisher is not None:
        publisher.close()
    print(json.dumps(out), flush=True)
