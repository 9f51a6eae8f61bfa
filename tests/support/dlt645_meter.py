"""Minimal DL/T 645-2007 meters for the agent's tests, built on the protocols codec.

They speak the real protocol over a real byte stream (a pty of a socat pair, or TCP as a
transparent gateway would): reads of the DIs the tests use, relay control with password check,
status word 3, the clock, daily frozen values, and broadcast time. Fault knobs: ``silent``
(no reply at all) and ``garbage`` (noise sent before each reply).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import serial_asyncio_fast

from protocols import dlt645
from protocols.contract import RelayState
from protocols.dlt645 import ErrorFlag, Frame, Function, MeterTime

TZ = ZoneInfo("Asia/Shanghai")
RELAY_WORDS = {
    RelayState.CONNECTED: 0x0000,
    RelayState.DISCONNECTED: 0x0050,  # relay open + trip command in force
    RelayState.READY_FOR_RECONNECTION: 0x0010,  # open, command lifted: waits for the button
}
ACTIONS = {0x1A: RelayState.DISCONNECTED, 0x1B: RelayState.READY_FOR_RECONNECTION,
           0x1C: RelayState.CONNECTED}  # fmt: skip


def meter_time(at: datetime) -> MeterTime:
    local = at.astimezone(TZ)
    return MeterTime(local.year, local.month, local.day, local.hour, local.minute,
                     local.second, weekday=(local.weekday() + 1) % 7)  # fmt: skip


@dataclass
class FakeMeter:
    address: str
    energy_wh: int = 1_000_000
    step_wh: int = 10  # each read of energy advances the register, so values differ
    relay: RelayState = RelayState.CONNECTED
    password: str = "123456"
    operator: str = "1A2B3C4D"
    clock_offset: timedelta = timedelta(0)
    frozen: list[tuple[datetime, int]] = field(default_factory=list)  # newest first
    silent: bool = False
    power_down: tuple[datetime, datetime] | None = None  # its latest 掉电记录 (03110001)
    garbage: bytes = b""
    refuse_relay: bool = False
    relay_commands: list[int] = field(default_factory=list)  # N1 of every 1CH received
    relay_log: list[tuple[int, int]] = field(default_factory=list)  # (epoch ms, N1) of each 1CH
    reads: int = 0
    time_syncs: int = 0

    def now(self) -> datetime:
        return datetime.now(TZ) + self.clock_offset

    def answer(self, frame: Frame) -> Frame | None:
        if self.silent:
            return None
        if frame.function == Function.READ_DATA:
            di = int.from_bytes(frame.data[:4], "little")
            data = self.read(di)
            if data is None:
                return dlt645.abnormal_reply(self.address, Function.READ_DATA, ErrorFlag.NO_DATA)
            self.reads += 1
            return dlt645.read_reply(self.address, di, data)
        if frame.function == Function.RELAY_CONTROL:
            password = frame.data[1:4][::-1].hex()
            operator = frame.data[4:8][::-1].hex().upper()
            action = frame.data[8]
            self.relay_commands.append(action)
            self.relay_log.append((time.time_ns() // 1_000_000, action))
            if self.refuse_relay or password != self.password or operator != self.operator:
                return dlt645.abnormal_reply(
                    self.address, Function.RELAY_CONTROL, ErrorFlag.UNAUTHORISED
                )
            self.relay = ACTIONS[action]
            return dlt645.ack_reply(self.address, Function.RELAY_CONTROL)
        return dlt645.abnormal_reply(self.address, frame.function, ErrorFlag.OTHER)

    def read(self, di: int) -> bytes | None:
        if di in (0x00010000, 0x0001FF00):
            self.energy_wh += self.step_wh
            if di == 0x00010000:
                return dlt645.encode_item(di, {"energy_import": self.energy_wh})
            return dlt645.encode_item(di, {"energy_import": self.energy_wh})
        if di == 0x02010100:
            return dlt645.encode_item(di, {"voltage_a": 229_800})
        if di == 0x04000503:
            return dlt645.encode_item(di, {"word": RELAY_WORDS[self.relay]})
        if di == 0x04000101:
            return dlt645.encode_item(di, {"at": meter_time(self.now())})
        if di == 0x04000102:
            return dlt645.encode_item(di, {"at": meter_time(self.now())})
        if di == 0x03110001 and self.power_down is not None:
            start, end = self.power_down
            return dlt645.encode_item(di, {"start": meter_time(start), "end": meter_time(end)})
        if di >> 8 == 0x050600 and 1 <= di & 0xFF <= len(self.frozen):
            at, _ = self.frozen[(di & 0xFF) - 1]
            return dlt645.encode_item(di, {"at": meter_time(at)})
        if di >> 8 == 0x050601 and 1 <= di & 0xFF <= len(self.frozen):
            _, wh = self.frozen[(di & 0xFF) - 1]
            return dlt645.encode_item(di, {"energy_import": wh})
        return None


class FakeBus:
    """Meters sharing one line: each frame goes to the meter it addresses."""

    def __init__(self, *meters: FakeMeter) -> None:
        self.meters = {m.address: m for m in meters}
        self.frames: list[Frame] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = dlt645.FrameDecoder()
        try:
            while chunk := await reader.read(256):
                decoder.feed(chunk)
                while True:
                    try:
                        event = decoder.next_event()
                    except dlt645.FrameError:
                        continue
                    if event is dlt645.NEED_DATA:
                        break
                    assert isinstance(event, Frame)
                    self.frames.append(event)
                    reply = self.dispatch(event)
                    if reply is not None:
                        writer.write(reply)
                        await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    def dispatch(self, frame: Frame) -> bytes | None:
        if frame.is_reply:
            return None
        if frame.function == Function.BROADCAST_TIME:
            for meter in self.meters.values():
                meter.time_syncs += 1
                meter.clock_offset = timedelta(0)
            return None
        meter = self.meters.get(frame.address)
        if meter is None:
            return None
        reply = meter.answer(frame)
        if reply is None:
            return None
        return meter.garbage + dlt645.encode_frame(reply)

    async def start_tcp(self) -> int:
        def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            self.tasks.append(asyncio.get_running_loop().create_task(self.serve(r, w)))

        self.server = await asyncio.start_server(on_client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def start_serial(self, device: str, baud: int = 9600) -> None:
        reader, writer = await serial_asyncio_fast.open_serial_connection(
            url=device, baudrate=baud, parity="N", bytesize=8, stopbits=1
        )
        self.tasks.append(asyncio.get_running_loop().create_task(self.serve(reader, writer)))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
