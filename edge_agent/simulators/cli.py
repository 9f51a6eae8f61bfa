"""``python -m edge_agent simulate``: run simulated meters until interrupted.

Bus flags start a bus; the per-bus flags after one (``--meters``, ``--map``, ``--baud``,
``--profile``, ``--first-address``, ``--first-unit``) apply to it. Given before any bus flag,
they set the default for the buses that follow::

    python -m edge_agent simulate --seed 1 --enforce-timing \\
        --dlt645-tcp 127.0.0.1:8021 --meters 10 \\
        --modbus-tcp 127.0.0.1:5020 --map sdm630 --meters 10 \\
        --dlt645-pty --baud 2400 \\
        --fault silent@111111111113

It prints one line per bus (protocol, where to connect, meter ids) and, with ``--ready-file``,
writes the same as JSON once every bus is listening (and, with ``--control``, the control port
last, as protocol ``control``). Give port 0 to listen on any free port; the ready file says which.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from edge_agent.simulators.clock import Clock, ScaledClock, system_clock
from edge_agent.simulators.control import serve_control
from edge_agent.simulators.faults import parse_fault
from edge_agent.simulators.fleet import BusSpec, Fleet, FleetSpec, start_simulators
from edge_agent.simulators.loadshape import Profile
from protocols.dlt645 import Password

_BUS_FLAGS = {
    "--dlt645-tcp": ("dlt645", "tcp"),
    "--dlt645-pty": ("dlt645", "pty"),
    "--dlt645-serial": ("dlt645", "serial"),
    "--dlt698-tcp": ("dlt698", "tcp"),
    "--dlt698-pty": ("dlt698", "pty"),
    "--dlt698-serial": ("dlt698", "serial"),
    "--modbus-tcp": ("modbus", "tcp"),
    "--modbus-rtu-tcp": ("modbus", "rtu-tcp"),
    "--modbus-pty": ("modbus", "pty"),
    "--modbus-serial": ("modbus", "serial"),
}
_BUS_HELP = {
    "--dlt645-tcp": "DL/T 645 meters behind a transparent TCP gateway listening on HOST:PORT",
    "--dlt645-pty": "DL/T 645 meters on a new pty (its path is printed)",
    "--dlt645-serial": "DL/T 645 meters on an existing serial device PATH",
    "--dlt698-tcp": "DL/T 698.45 meters behind a transparent TCP gateway on HOST:PORT",
    "--dlt698-pty": "DL/T 698.45 meters on a new pty (its path is printed)",
    "--dlt698-serial": "DL/T 698.45 meters on an existing serial device PATH",
    "--modbus-tcp": "Modbus TCP meters listening on HOST:PORT (unit ids 1..N)",
    "--modbus-rtu-tcp": "Modbus RTU framing over TCP on HOST:PORT (a transparent gateway)",
    "--modbus-pty": "Modbus RTU meters on a new pty (its path is printed)",
    "--modbus-serial": "Modbus RTU meters on an existing serial device PATH",
}


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host or "127.0.0.1", int(port)


class _Bus(argparse.Action):
    """Starts a bus in ``namespace.buses`` (a list of dicts)."""

    def __call__(self, parser: Any, namespace: Any, value: Any, option: Any = None) -> None:
        protocol, transport = _BUS_FLAGS[str(option)]
        bus: dict[str, Any] = dict(namespace.bus_defaults)
        bus.update(protocol=protocol, transport=transport)
        if transport == "rtu-tcp":
            bus.update(transport="tcp", rtu_over_tcp=True)
        if bus["transport"] == "tcp":
            try:
                bus["host"], bus["port"] = _host_port(value)
            except argparse.ArgumentTypeError as exc:
                parser.error(f"{option}: {exc}")
        elif transport == "serial":
            bus["path"] = value
        namespace.buses = [*namespace.buses, bus]


class _PerBus(argparse.Action):
    """A per-bus option: applies to the last bus given, or sets the default for later ones."""

    def __call__(self, parser: Any, namespace: Any, value: Any, option: Any = None) -> None:
        if namespace.buses:
            namespace.buses[-1][self.dest] = value
        else:
            namespace.bus_defaults = {**namespace.bus_defaults, self.dest: value}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` flags to ``parser`` (the agent CLI's subcommand parser)."""
    parser.set_defaults(buses=[], bus_defaults={})
    buses = parser.add_argument_group("buses (repeatable; each starts a bus)")
    for flag, (_, transport) in _BUS_FLAGS.items():
        metavar = {"tcp": "HOST:PORT", "rtu-tcp": "HOST:PORT", "serial": "PATH"}.get(transport)
        if metavar:
            buses.add_argument(flag, action=_Bus, metavar=metavar, help=_BUS_HELP[flag])
        else:
            buses.add_argument(flag, action=_Bus, nargs=0, help=_BUS_HELP[flag])
    per_bus = parser.add_argument_group("per bus (apply to the bus flag before them)")
    per_bus.add_argument("--meters", type=int, action=_PerBus, help="meters on the bus (10)")
    per_bus.add_argument(
        "--map", dest="register_map", action=_PerBus, metavar="NAME|PATH",
        help="Modbus register map: sdm630, sunspec_meter, generic_prepaid or a TOML file",
    )  # fmt: skip
    per_bus.add_argument(
        "--baud", type=int, action=_PerBus, help="line speed (DL/T 645 2400, Modbus 9600)"
    )
    per_bus.add_argument(
        "--profile", type=Profile, action=_PerBus, choices=list(Profile),
        help="load shape (DL/T 645: residential, Modbus: commercial)",
    )  # fmt: skip
    per_bus.add_argument("--first-address", action=_PerBus, help="first DL/T 645 address")
    per_bus.add_argument("--first-unit", type=int, action=_PerBus, help="first Modbus unit id")
    parser.add_argument(
        "--enforce-timing", action="store_true",
        help="pace every serial bus at its baud rate (11-bit characters, turnaround, gaps)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1, help="makes every meter reproducible")
    parser.add_argument(
        "--fault", action="append", default=[], metavar="KIND[:P][/PROB]@METER",
        help="silent, slow[:SECONDS], garbage[:N], garbage-only[:N], bad-checksum, reply-lost; "
        "METER is an address, a unit id or *",
    )  # fmt: skip
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (1)"
    )
    parser.add_argument(
        "--start", type=datetime.fromisoformat, metavar="ISO8601",
        help="simulated start time, with its offset (default: now)",
    )  # fmt: skip
    parser.add_argument(
        "--history-days", type=int, default=0, help="run the meters N days before the start"
    )
    parser.add_argument(
        "--exact-clocks", action="store_true", help="meter clocks start exact and do not drift"
    )
    parser.add_argument(
        "--dlt645-password", action="append", default=[], metavar="LEVEL:CODE",
        help="accepted DL/T 645 password, e.g. 02:000000 (default: 02 and 04 with 000000)",
    )  # fmt: skip
    parser.add_argument(
        "--control", type=_host_port, metavar="HOST:PORT",
        help="line-based control port (faults, relay button, power failures); see the docs",
    )  # fmt: skip
    parser.add_argument("--ready-file", type=Path, help="write the endpoints here as JSON")


def _password(text: str) -> Password:
    level, colon, code = text.partition(":")
    if not colon or not level.isdigit() or len(code) != 6:
        raise ValueError(f"--dlt645-password {text!r} is not LEVEL:CODE (e.g. 02:000000)")
    return Password(int(level), code)


def spec_from_args(args: argparse.Namespace) -> FleetSpec:
    """The :class:`FleetSpec` the flags describe; ValueError names a bad flag."""
    if not args.buses:
        raise ValueError("no bus given: add --dlt645-tcp, --modbus-pty, … (see --help)")
    buses = []
    for bus in args.buses:
        spec = BusSpec(**{k: v for k, v in bus.items() if v is not None})
        buses.append(replace(spec, enforce_timing=args.enforce_timing))
    faults = [parse_fault(text) for text in args.fault]
    kwargs: dict[str, Any] = {}
    if args.dlt645_password:
        kwargs["passwords"] = [_password(p) for p in args.dlt645_password]
    return FleetSpec(
        buses, seed=args.seed, faults=faults, clock_error=not args.exact_clocks,
        history_days=args.history_days, **kwargs,
    )  # fmt: skip


def describe(fleet: Fleet) -> list[dict[str, Any]]:
    return [asdict(e) | {"url": e.url} for e in fleet.endpoints]


def _control_endpoint(host: str, port: int) -> dict[str, Any]:
    """The control port as the ready file lists it, after the buses."""
    return {"protocol": "control", "transport": "tcp", "meters": [], "host": host, "port": port,
            "url": f"tcp://{host}:{port}"}  # fmt: skip


def _write_whole(path: Path, text: str) -> None:
    """``text`` at ``path`` all at once: a reader waiting for the file never sees half of it."""
    part = path.with_name(path.name + ".part")
    part.write_text(text)
    part.replace(path)


def _line(endpoint: dict[str, Any]) -> str:
    meters = endpoint["meters"]
    ids = f"{meters[0]}..{meters[-1]}" if len(meters) > 1 else meters[0]
    where = endpoint["url"] if endpoint["transport"] == "tcp" else endpoint["path"]
    extra = f"  map {endpoint['register_map']}" if endpoint["register_map"] else ""
    baud = f"  {endpoint['baud']} baud (enforced)" if endpoint["baud"] else ""
    return f"{endpoint['protocol']:7} {endpoint['transport']:4} {where}  meters {ids}{extra}{baud}"


async def _run(args: argparse.Namespace, spec: FleetSpec) -> int:
    clock: Clock = system_clock
    if args.speed != 1.0 or args.start is not None:
        start_ms = int(args.start.timestamp() * 1000) if args.start is not None else None
        clock = ScaledClock(args.speed, start_ms)
    fleet = await start_simulators(spec, clock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    control = None
    try:
        endpoints = describe(fleet)
        for endpoint in endpoints:
            print(_line(endpoint), flush=True)
        if args.control is not None:
            control = await serve_control(fleet, *args.control)
            host, port = args.control[0], control.sockets[0].getsockname()[1]
            print(f"control tcp://{host}:{port}", flush=True)
            endpoints.append(_control_endpoint(host, port))
        if args.ready_file is not None:
            _write_whole(args.ready_file, json.dumps(endpoints, indent=2))
        print("simulators ready (Ctrl-C stops them)", flush=True)
        await stop.wait()
    finally:
        if control is not None:
            control.close()
        await fleet.close()
        for server in fleet.servers:
            stats = ", ".join(f"{k} {v}" for k, v in sorted(server.stats.items()))
            print(f"{server.protocol} {server.transport}: {stats or 'no requests'}", flush=True)
    return 0


def build_parser(prog: str = "python -m edge_agent simulate") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_arguments(parser)
    return parser


def main(args: argparse.Namespace | Sequence[str] | None = None) -> int:
    """Run the simulators ``args`` describe until SIGINT / SIGTERM. ``args`` is a Namespace
    parsed by a parser given :func:`add_arguments`, or the raw flags (None: ``sys.argv``)."""
    if not isinstance(args, argparse.Namespace):
        args = build_parser().parse_args(args)
    try:
        spec = spec_from_args(args)
    except (ValueError, TypeError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(_run(args, spec))
    return 0
