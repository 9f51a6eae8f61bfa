"""What every simulated bus shares: meters with faults, transports, one transaction at a time.

A protocol subclass supplies a deframer (:meth:`BusServer.session`) and the meters' answers
(:meth:`BusServer.respond`); this class runs the loops, keeps the line's timeline and applies
the faults, so both protocols behave the same way under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edge_agent.simulators.clock import Clock
from edge_agent.simulators.faults import Fault, FaultKind, garbage
from edge_agent.simulators.meter import MeterModel
from edge_agent.simulators.wire import Link, StreamLink, Timing, WireClock, open_pty, open_serial

log = logging.getLogger(__name__)

PARTIAL_TIMEOUT_S = 0.5  # a half-received frame is dropped after this much silence


@dataclass
class SimMeter:
    """A meter on a bus: its model, its identity there, and the fault it shows (if any)."""

    meter_id: str  # DL/T 645 address, or the Modbus unit id as text
    model: MeterModel
    fault: Fault | None = None
    requests: int = 0  # requests addressed to it; also drives probabilistic faults

    def strike(self) -> Fault | None:
        """The fault that hits the current request, counting it; a meter without supply is
        silent, since it has no power to answer."""
        self.requests += 1
        if not self.model.powered:
            return Fault(FaultKind.SILENT)
        if self.fault and self.fault.strikes(zlib.crc32(self.meter_id.encode()), self.requests):
            return self.fault
        return None


@dataclass
class Reply:
    meter: SimMeter | None  # None: the bus itself answers (a gateway's "no response")
    data: bytes
    fault: Fault | None = None


@dataclass
class Request:
    """One decoded request and how many bytes it took on the wire."""

    message: object
    nbytes: int


class Session(ABC):
    """A deframer for one byte stream."""

    @abstractmethod
    def feed(self, data: bytes) -> list[Request]: ...

    @abstractmethod
    def buffered(self) -> int: ...

    @abstractmethod
    def drop_partial(self) -> None: ...


@dataclass
class Endpoint:
    """Where a client reaches a bus: ``tcp`` host and port, or a serial ``path`` (a pty)."""

    protocol: str  # "dlt645" | "modbus"
    transport: str  # "tcp" | "pty" | "serial"
    meters: list[str]
    host: str = ""
    port: int = 0
    path: str = ""
    baud: int = 0
    register_map: str = ""

    @property
    def url(self) -> str:
        if self.transport == "tcp":
            return f"tcp://{self.host}:{self.port}"
        return f"serial://{self.path}?baud={self.baud}"


class BusServer(ABC):
    """Meters behind one endpoint. Start it with :meth:`start_tcp`, :meth:`start_pty` or
    :meth:`start_serial` (once), stop it with :meth:`close`."""

    protocol = ""
    garbage_avoid = b""  # bytes noise must not contain (a protocol's frame start)

    def __init__(self, meters: Sequence[SimMeter], clock: Clock, timing: Timing, seed: int = 0):
        self.meters = {m.meter_id: m for m in meters}
        self.clock = clock
        self.timing = timing
        self.seed = seed
        self.stats: Counter[str] = Counter()
        self.endpoint: Endpoint | None = None
        self.transport = ""  # "tcp" | "pty" | "serial", set when started
        self._lock = asyncio.Lock()  # half duplex: one transaction on the line at a time
        self._wire = WireClock(timing)
        self._tasks: set[asyncio.Task[None]] = set()
        self._links: set[Link] = set()
        self._server: asyncio.Server | None = None
        self._garbage_count = 0

    # --- protocol hooks -----------------------------------------------------------------------

    @abstractmethod
    def session(self) -> Session: ...

    @abstractmethod
    def respond(self, request: object, now_ms: int) -> list[Reply]:
        """The replies of the meters that heard ``request`` (after :meth:`SimMeter.strike`)."""

    @abstractmethod
    def corrupt(self, data: bytes) -> bytes:
        """``data`` with its checksum broken."""

    # --- control ------------------------------------------------------------------------------

    def meter(self, meter_id: str) -> SimMeter:
        return self.meters[meter_id]

    def set_fault(self, meter_id: str, fault: Fault | None) -> None:
        """Inject (or with None, clear) a fault; ``*`` means every meter on this bus."""
        targets: Iterable[SimMeter] = (
            self.meters.values() if meter_id == "*" else [self.meters[meter_id]]
        )
        for target in targets:
            target.fault = fault

    # --- transports ---------------------------------------------------------------------------

    def _endpoint(self, transport: str, **where: object) -> Endpoint:
        baud = self.timing.line.baud if self.timing.line else 0
        self.endpoint = Endpoint(self.protocol, transport, list(self.meters), baud=baud, **where)  # type: ignore[arg-type]
        return self.endpoint

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> Endpoint:
        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(StreamLink(reader, writer))

        self.transport = "tcp"
        self._server = await asyncio.start_server(accept, host, port)
        bound = self._server.sockets[0].getsockname()
        return self._endpoint("tcp", host=bound[0], port=bound[1])

    async def start_pty(self) -> Endpoint:
        link, path = open_pty()
        self.transport = "pty"
        self._spawn(link)
        return self._endpoint("pty", path=path)

    async def start_serial(self, path: str) -> Endpoint:
        baud = self.timing.line.baud if self.timing.line else 9600
        self.transport = "serial"
        self._spawn(open_serial(path, baud))
        return self._endpoint("serial", path=path)

    def _spawn(self, link: Link) -> None:
        task = asyncio.create_task(self._serve(link), name=f"{self.protocol}-bus")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for link in list(self._links):
            link.close()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    # --- the loop -----------------------------------------------------------------------------

    async def _serve(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        session = self.session()
        self._links.add(link)
        first_byte_at = loop.time()
        try:
            while True:
                try:
                    timeout = PARTIAL_TIMEOUT_S if session.buffered() else None
                    data = await asyncio.wait_for(link.read(), timeout)
                except TimeoutError:
                    self.stats["partial_dropped"] += 1
                    session.drop_partial()
                    continue
                if not data:
                    return
                arrived = loop.time()
                if not session.buffered():
                    first_byte_at = arrived
                try:
                    requests = session.feed(data)
                except Exception:  # a deframer bug must not take the bus down: count, drop
                    log.exception("%s: cannot deframe %s", self.protocol, data.hex(" "))
                    self.stats["internal_errors"] += 1
                    session.drop_partial()
                    continue
                for request in requests:
                    async with self._lock:
                        await self._transact(link, request, first_byte_at)
                    first_byte_at = arrived
        except Exception:
            log.exception("%s bus loop failed", self.protocol)
            raise
        finally:
            self._links.discard(link)
            link.close()

    async def _transact(self, link: Link, request: Request, first_byte_at: float) -> None:
        self.stats["requests"] += 1
        request_end = self._wire.request_end(first_byte_at, request.nbytes)
        try:
            replies = self.respond(request.message, self.clock())
        except Exception:  # a simulator bug: no answer (as a confused meter), bus carries on
            log.exception("%s: cannot answer %r", self.protocol, request.message)
            self.stats["internal_errors"] += 1
            replies = []
        data, delay = self._shape(replies)
        if data is None:
            self._wire.idle_after(request_end)
            return
        self.stats["replies"] += 1
        await self._wire.send(link, data, self._wire.reply_start(request_end) + delay)

    def _shape(self, replies: list[Reply]) -> tuple[bytes | None, float]:
        """Apply the meters' faults; several replies at once collide into garbage."""
        if not replies:
            return None, 0.0
        if len(replies) > 1:
            self.stats["collisions"] += 1
            merged = bytearray(max(len(r.data) for r in replies))
            for reply in replies:
                for i, byte in enumerate(reply.data):
                    merged[i] |= byte
            return bytes(merged), 0.0
        reply = replies[0]
        fault = reply.fault
        if fault is None:
            return reply.data, 0.0
        self.stats[f"fault_{fault.kind.value}"] += 1
        if fault.kind is FaultKind.REPLY_LOST:
            return None, 0.0
        if fault.kind is FaultKind.SLOW:
            return reply.data, fault.delay_s
        if fault.kind is FaultKind.BAD_CHECKSUM:
            return self.corrupt(reply.data), 0.0
        self._garbage_count += 1
        noise = garbage(self.seed + self._garbage_count, fault.garbage_bytes, self.garbage_avoid)
        if fault.kind is FaultKind.GARBAGE_ONLY:
            return noise, 0.0
        return noise + reply.data, 0.0
