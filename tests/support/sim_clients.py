"""Minimal clients for talking to the simulators in tests, over TCP or a serial path.

They use the protocols' own codecs and pymodbus's framer, and keep every byte received so a
test can look at the wire (preamble, noise, broken checksums) as well as at decoded frames.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import serial_asyncio_fast
from pymodbus.framer import FramerRTU
from pymodbus.pdu import DecodePDU, ModbusPDU

from edge_agent.simulators.bus import Endpoint
from protocols.dlt645 import NEED_DATA, Frame, FrameDecoder, FrameError, encode_frame


async def open_stream(endpoint: Endpoint) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    if endpoint.transport == "tcp":
        return await asyncio.open_connection(endpoint.host, endpoint.port)
    return await open_serial(endpoint.path)


async def open_serial(path: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    # ptys refuse even parity here (see tests/support/serial.py): 8N1 on the test side.
    return await serial_asyncio_fast.open_serial_connection(url=path, baudrate=9600)


class RawClient:
    """Bytes in and out, with everything received kept in ``received``."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = bytearray()

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_some(self, wait_s: float = 3.0) -> bytes:
        chunk = await asyncio.wait_for(self.reader.read(4096), wait_s)
        if not chunk:
            raise ConnectionError("the simulator closed the link")
        self.received += chunk
        return chunk

    async def read_at_least(self, count: int, wait_s: float = 3.0) -> bytes:
        start = len(self.received)
        while len(self.received) - start < count:
            await self.read_some(wait_s)
        return bytes(self.received[start:])

    async def close(self) -> None:
        self.writer.close()


class Dlt645Client(RawClient):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.decoder = FrameDecoder()
        self.errors: Counter[str] = Counter()

    async def receive(self, wait_s: float = 3.0) -> Frame:
        while True:
            try:
                event = self.decoder.next_event()
            except FrameError as exc:
                self.errors[type(exc).__name__] += 1
                continue
            if event is not NEED_DATA:
                assert isinstance(event, Frame)
                return event
            self.decoder.feed(await self.read_some(wait_s))

    async def ask(self, frame: Frame, wait_s: float = 3.0) -> Frame:
        await self.send(encode_frame(frame))
        return await self.receive(wait_s)


class RtuClient(RawClient):
    """Modbus RTU frames built and parsed with pymodbus's own framer."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.framer = FramerRTU(DecodePDU(is_server=False))
        self.pending = bytearray()
        self.errors = 0

    def frame(self, request: ModbusPDU) -> bytes:
        return self.framer.buildFrame(request)

    async def receive(self, wait_s: float = 3.0) -> ModbusPDU:
        while True:
            if self.pending:
                used, pdu = self.framer.handleFrame(bytes(self.pending), 0, 0)
                del self.pending[:used]
                if pdu is not None:
                    return pdu
                if used:
                    self.errors += 1  # a frame with a bad CRC: pymodbus drops it
            self.pending += await self.read_some(wait_s)

    async def ask(self, request: ModbusPDU, wait_s: float = 3.0) -> ModbusPDU:
        await self.send(self.frame(request))
        return await self.receive(wait_s)


async def dlt645_client(endpoint: Endpoint) -> Dlt645Client:
    return Dlt645Client(*await open_stream(endpoint))


async def rtu_client(endpoint: Endpoint) -> RtuClient:
    return RtuClient(*await open_stream(endpoint))
