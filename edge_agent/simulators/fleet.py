"""Several simulated buses at once, for tests and the demo.

::

    spec = FleetSpec([BusSpec("dlt645", "tcp", meters=10), BusSpec("modbus", "pty")], seed=1)
    async with run_simulators(spec, clock=ManualClock(start)) as fleet:
        fleet.endpoints            # where to connect: TCP host/port or a pty path per bus
        fleet.set_fault("111111111113", Fault(FaultKind.SILENT))
        fleet.meter("111111111111").model.press_button(clock())
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from edge_agent.simulators.bus import BusServer, Endpoint, SimMeter
from edge_agent.simulators.clock import Clock, system_clock
from edge_agent.simulators.dlt645_server import DEFAULT_PASSWORDS, Dlt645Server, dlt645_timing
from edge_agent.simulators.dlt698_server import Dlt698Server, dlt698_timing
from edge_agent.simulators.faults import Fault
from edge_agent.simulators.loadshape import Profile, mix
from edge_agent.simulators.meter import DAY_MS, MeterConfig, MeterModel
from edge_agent.simulators.modbus_server import ModbusServer, modbus_timing
from protocols.dlt645 import Password
from protocols.modbus import load_map

FIRST_ADDRESS = "111111111111"
DEFAULT_BAUD = {"dlt645": 2400, "modbus": 9600, "dlt698": 2400}
ADDRESSED = ("dlt645", "dlt698")  # meters with 12-digit addresses (Modbus has unit ids)


@dataclass(frozen=True)
class BusSpec:
    """One bus of simulated meters.

    ``transport``: ``tcp`` (listen on ``host:port``, 0 = any free port), ``pty`` (a new pty;
    its path is in the endpoint) or ``serial`` (open the existing device ``path``, e.g. one end
    of a socat pair). DL/T 645 meters get addresses ``first_address`` + 0, 1, … (by default
    following on from the previous DL/T 645 bus); Modbus meters unit ids ``first_unit``, ….
    """

    protocol: Literal["dlt645", "modbus", "dlt698"]
    transport: Literal["tcp", "pty", "serial"] = "tcp"
    meters: int = 10
    host: str = "127.0.0.1"
    port: int = 0
    path: str = ""
    register_map: str = "sdm630"  # Modbus: a shipped map name or a TOML path
    first_address: str | None = None
    first_unit: int = 1
    baud: int | None = None  # None: 2400 for DL/T 645, 9600 for Modbus
    enforce_timing: bool = False  # pace bytes at the baud rate (see wire.py)
    profile: Profile | None = None  # None: residential for DL/T 645, commercial for Modbus
    rtu_over_tcp: bool = False  # Modbus RTU framing on a TCP port (transparent gateway)

    @property
    def line_baud(self) -> int:
        return self.baud or DEFAULT_BAUD[self.protocol]


@dataclass(frozen=True)
class FleetSpec:
    buses: Sequence[BusSpec]
    seed: int = 1
    faults: Sequence[tuple[str, Fault]] = ()  # (meter id or "*", fault)
    clock_error: bool = True  # meters' clocks start a little off and drift
    history_days: int = 0  # run the meters this many days before now (frozen values exist)
    passwords: Sequence[Password] = DEFAULT_PASSWORDS  # DL/T 645 passwords accepted
    broadcast_limit_s: float | None = 300  # DL/T 645: largest broadcast time correction


@dataclass
class Fleet:
    """Running simulators: one server per bus, in bus order."""

    servers: list[BusServer]
    clock: Clock
    spec: FleetSpec
    _closed: bool = field(default=False, repr=False)

    @property
    def endpoints(self) -> list[Endpoint]:
        return [s.endpoint for s in self.servers if s.endpoint is not None]

    def meters(self, meter_id: str) -> list[SimMeter]:
        """Every meter with this id (a Modbus unit id may recur on several buses)."""
        return [s.meters[meter_id] for s in self.servers if meter_id in s.meters]

    def meter(self, meter_id: str) -> SimMeter:
        found = self.meters(meter_id)
        if not found:
            raise KeyError(f"no simulated meter {meter_id!r}")
        return found[0]

    def set_fault(self, meter_id: str, fault: Fault | None) -> int:
        """Inject (None: clear) a fault on every meter with this id, or ``*`` for all;
        returns how many meters it touched."""
        touched = 0
        for server in self.servers:
            if meter_id == "*":
                server.set_fault("*", fault)
                touched += len(server.meters)
            elif meter_id in server.meters:
                server.set_fault(meter_id, fault)
                touched += 1
        if not touched:
            raise KeyError(f"no simulated meter {meter_id!r}")
        return touched

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for server in self.servers:
            await server.close()


def _address(first: str, index: int) -> str:
    return f"{int(first) + index:012d}"


def build_servers(spec: FleetSpec, clock: Clock) -> list[BusServer]:
    """The servers of a fleet, not started: models created, faults set."""
    now = clock()
    start = now - spec.history_days * DAY_MS
    servers: list[BusServer] = []
    next_address = FIRST_ADDRESS
    for bus_index, bus in enumerate(spec.buses):
        profile = bus.profile or (
            Profile.RESIDENTIAL if bus.protocol in ADDRESSED else Profile.COMMERCIAL
        )
        if bus.protocol in ADDRESSED:
            first = bus.first_address or next_address
            ids = [_address(first, i) for i in range(bus.meters)]
            next_address = _address(first, bus.meters)
        else:
            ids = [str(bus.first_unit + i) for i in range(bus.meters)]
        meters = []
        for index, meter_id in enumerate(ids):
            seed = mix(spec.seed, bus_index, index) >> 1
            config = MeterConfig.generate(meter_id, seed, profile, clock_error=spec.clock_error)
            model = MeterModel(config, start)
            if spec.history_days:
                model.advance(now)
            meters.append(SimMeter(meter_id, model))
        # Modbus TCP proper has no serial line to pace; a gateway's RTU-over-TCP has one.
        serial_line = bus.protocol in ADDRESSED or bus.transport != "tcp" or bus.rtu_over_tcp
        baud = bus.line_baud if bus.enforce_timing and serial_line else None
        server: BusServer
        if bus.protocol == "dlt645":
            server = Dlt645Server(
                meters, clock, dlt645_timing(baud), seed=spec.seed,
                passwords=spec.passwords, broadcast_limit_s=spec.broadcast_limit_s,
            )  # fmt: skip
        elif bus.protocol == "dlt698":
            server = Dlt698Server(
                meters, clock, dlt698_timing(baud), seed=spec.seed, passwords=spec.passwords
            )
        else:
            server = ModbusServer(
                meters, clock, load_map(bus.register_map), modbus_timing(baud),
                seed=spec.seed, rtu_over_tcp=bus.rtu_over_tcp,
            )  # fmt: skip
        servers.append(server)
    for meter_id, fault in spec.faults:
        matched = [s for s in servers if meter_id == "*" or meter_id in s.meters]
        if not matched:
            raise ValueError(f"fault for {meter_id!r}: no simulated meter has that id")
        for server in matched:
            server.set_fault(meter_id, fault)
    return servers


async def start_simulators(spec: FleetSpec, clock: Clock | None = None) -> Fleet:
    """Start every bus of ``spec``; the caller must ``await fleet.close()``."""
    clock = clock or system_clock
    fleet = Fleet(build_servers(spec, clock), clock, spec)
    try:
        for bus, server in zip(spec.buses, fleet.servers, strict=True):
            if bus.transport == "tcp":
                await server.start_tcp(bus.host, bus.port)
            elif bus.transport == "pty":
                await server.start_pty()
            else:
                await server.start_serial(bus.path)
            if server.endpoint is not None:
                server.endpoint.register_map = bus.register_map if bus.protocol == "modbus" else ""
    except BaseException:
        await fleet.close()
        raise
    return fleet


@contextlib.asynccontextmanager
async def run_simulators(spec: FleetSpec, clock: Clock | None = None) -> AsyncIterator[Fleet]:
    """``async with run_simulators(spec) as fleet:`` — started on entry, stopped on exit."""
    fleet = await start_simulators(spec, clock)
    try:
        yield fleet
    finally:
        await fleet.close()
