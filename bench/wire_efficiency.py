"""Wire efficiency: how close the agent's drivers keep a serial bus to its physical limit.

The simulators run in their own process with byte timing enforced (DL/T 645 at 2400 baud,
Modbus RTU at 9600 baud, both 11-bit characters) on ptys, so every request and reply takes its
real wire time. The agent's own drivers (``edge_agent.drivers``: ``Dlt645Driver`` and
``ModbusDriver``, as the bus scheduler calls them) poll back to back, one bus each, both buses
at once, for a fixed time.

The baseline, worked out in the same run from the frames actually exchanged, is the wire
limit: for every transaction, (request bytes + reply bytes) × character time, plus what the
protocol makes the line wait — DL/T 645: the meter's least response delay Td = 20 ms;
Modbus RTU: 3.5 characters of silence before each frame (request and reply). The ratio is
limit time / elapsed time, i.e. achieved transactions per second over the most the wire
allows. Goal: ≥ 0.9.

Run: ``.venv/bin/python bench/wire_efficiency.py [--seconds 10]`` (about 25 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from edge_agent.config import Bus, BusProtocol, Meter, Parity, PollGroup, Transport
from edge_agent.drivers.dlt645 import Dlt645Driver
from edge_agent.drivers.modbus import ModbusDriver
from protocols.dlt645 import TABLE, encode_frame, read_request

DLT645_BAUD, MODBUS_BAUD, BITS_PER_CHAR = 2400, 9600, 11
TD_S = 0.020  # DL/T 645: a meter answers no sooner than 20 ms after a request
RTU_GAP_CHARS = 3.5
METERS = 4
# A typical 15-minute DL/T 645 poll: energy by tariff, U, I, P, PF, f, relay status word.
DIS = ["0001FF00", "02010100", "02020100", "02030000", "02060000", "02800002", "04000503"]
PREAMBLE = 4  # FE bytes in front of every frame, both ways (agent and simulator default)


@dataclass
class Result:
    bus: str
    transactions: int
    elapsed_s: float
    limit_s: float

    @property
    def ratio(self) -> float:
        return self.limit_s / self.elapsed_s

    def line(self) -> str:
        rate = self.transactions / self.elapsed_s
        limit_rate = self.transactions / self.limit_s
        overhead_ms = (self.elapsed_s - self.limit_s) / self.transactions * 1000
        return (
            f"{self.bus:28} {self.transactions:5d} transactions  {rate:6.2f}/s  "
            f"wire limit {limit_rate:6.2f}/s  ratio {self.ratio:.3f}  "
            f"overhead {overhead_ms:+.2f} ms/transaction"
        )


def char_s(baud: int) -> float:
    return BITS_PER_CHAR / baud


def dlt645_limit_s(di: int) -> float:
    request = len(encode_frame(read_request("111111111111", di), PREAMBLE))
    reply = PREAMBLE + 12 + 4 + TABLE[di].size
    return (request + reply) * char_s(DLT645_BAUD) + TD_S


def modbus_limit_s(count: int) -> float:
    request, reply = 8, 5 + 2 * count  # unit, FC, address, count, CRC | unit, FC, n, data, CRC
    return (request + reply + 2 * RTU_GAP_CHARS) * char_s(MODBUS_BAUD)


async def start_simulators(ready: Path) -> tuple[asyncio.subprocess.Process, list[dict]]:  # type: ignore[type-arg]
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_agent.simulators", "--seed", "1", "--exact-clocks",
        "--enforce-timing",
        "--dlt645-pty", "--meters", str(METERS), "--baud", str(DLT645_BAUD),
        "--modbus-pty", "--map", "sdm630", "--meters", str(METERS), "--baud", str(MODBUS_BAUD),
        "--ready-file", str(ready),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    while True:
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        if not line:
            raise RuntimeError("the simulators exited before they were ready")
        if line.startswith("simulators ready"):
            return process, json.loads(await asyncio.to_thread(ready.read_text))


async def run_dlt645(path: str, meters: list[str], seconds: float) -> Result:
    # A pty carries no parity (and refuses even parity): 8N1 here, 8E1 timing in the simulator.
    bus = Bus(name="rs485-645", transport=Transport.SERIAL, protocol=BusProtocol.DLT645,
              device=path, baud=DLT645_BAUD, parity=Parity.NONE, timeout_ms=2000,
              inter_frame_gap_ms=0)  # fmt: skip
    driver = Dlt645Driver(bus, ZoneInfo("Asia/Shanghai"), {})
    group = PollGroup(name="poll", every_s=900, dis=DIS)
    configs = [Meter(id=f"m{i}", address=a) for i, a in enumerate(meters)]
    await driver.poll(configs[0], group)  # open the port, settle
    transactions, limit = 0, 0.0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        meter = configs[transactions // len(DIS) % len(configs)]
        await driver.poll(meter, group)
        transactions += len(DIS)
        limit += sum(dlt645_limit_s(int(di, 16)) for di in DIS)
    elapsed = time.perf_counter() - started
    await driver.close()
    return Result(f"DL/T 645 @{DLT645_BAUD} (pty)", transactions, elapsed, limit)


async def run_modbus(path: str, units: list[str], seconds: float) -> Result:
    bus = Bus(name="rs485-rtu", transport=Transport.SERIAL, protocol=BusProtocol.MODBUS_RTU,
              device=path, baud=MODBUS_BAUD, parity=Parity.NONE, timeout_ms=2000)  # fmt: skip
    driver = ModbusDriver(bus)
    group = PollGroup(name="poll", every_s=900)
    configs = [Meter(id=f"u{u}", unit=int(u), map="sdm630") for u in units]
    await driver.poll(configs[0], group)
    plan = driver._plan(configs[0], group)  # the block reads each poll makes
    per_poll_limit = sum(modbus_limit_s(request.count) for request in plan)
    transactions, limit, polls = 0, 0.0, 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        await driver.poll(configs[polls % len(configs)], group)
        polls += 1
        transactions += len(plan)
        limit += per_poll_limit
    elapsed = time.perf_counter() - started
    await driver.close()
    return Result(f"Modbus RTU @{MODBUS_BAUD} (pty, sdm630)", transactions, elapsed, limit)


async def main(seconds: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        process, endpoints = await start_simulators(Path(tmp) / "ready.json")
        try:
            dlt645, modbus = endpoints
            results = await asyncio.gather(
                run_dlt645(dlt645["path"], dlt645["meters"], seconds),
                run_modbus(modbus["path"], modbus["meters"], seconds),
            )
        finally:
            process.terminate()
            await process.wait()
    print("wire efficiency: the agent's drivers against simulators pacing bytes at the baud rate")
    print("(both buses polled at once; ratio = wire-limit time / elapsed time; goal >= 0.9)")
    for result in results:
        print(result.line())
    return 0 if all(r.ratio >= 0.9 for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="polling time per bus")
    sys.exit(asyncio.run(main(parser.parse_args().seconds)))
