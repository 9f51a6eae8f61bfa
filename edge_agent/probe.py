"""``probe``: read one meter once and print JSON — for an installer checking wiring,
addresses and maps before writing the config. Exit status: 0 read, 2 no valid reply (timeout,
noise), 3 the meter refused or answered something unusable, 4 bad arguments."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from zoneinfo import ZoneInfo

from edge_agent.config import Bus, BusProtocol, Meter, Parity, PollGroup, Transport
from edge_agent.drivers.base import Driver, MeterReplyError, MeterTimeout
from edge_agent.drivers.dlt645 import Dlt645Driver, known_di
from edge_agent.drivers.modbus import ModbusDriver
from edge_agent.drivers.modbus_maps import MapLoadError, load
from protocols.contract import Quantity


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="protocol", required=True)
    for name in ("dlt645", "modbus"):
        q = sub.add_parser(name, help=f"read a {name} meter once")
        where = q.add_mutually_exclusive_group(required=True)
        where.add_argument("--tcp", metavar="HOST:PORT", help="meter or serial-to-TCP gateway")
        where.add_argument("--serial", metavar="DEVICE", help="serial port, e.g. /dev/ttyUSB0")
        q.add_argument("--baud", type=int, default=2400 if name == "dlt645" else 9600)
        q.add_argument(
            "--parity", choices=["N", "E", "O"], default="E" if name == "dlt645" else "N"
        )
        q.add_argument("--timeout", type=float, default=2.0, help="seconds per request")
        if name == "dlt645":
            q.add_argument("--address", required=True, help="12 digits as on the nameplate")
            q.add_argument("--di", action="append", required=True, help="DI, 8 hex digits")
        else:
            q.add_argument("--unit", type=int, required=True, help="unit id 1..247")
            q.add_argument("--map", required=True, help="shipped map name or a TOML path")
            q.add_argument("--rtu-over-tcp", action="store_true", help="RTU frames over --tcp")
            q.add_argument("--quantity", action="append", default=[], help="only these")


def _bus(args: argparse.Namespace) -> Bus:
    host, port = None, None
    if args.tcp:
        host, _, port_text = args.tcp.rpartition(":")
        if not host or not port_text.isdigit():
            raise ValueError(f"--tcp {args.tcp!r} is not HOST:PORT")
        port = int(port_text)
    if args.protocol == "dlt645":
        protocol = BusProtocol.DLT645
    elif args.tcp and not args.rtu_over_tcp:
        protocol = BusProtocol.MODBUS_TCP
    else:
        protocol = BusProtocol.MODBUS_RTU
    return Bus(
        name="probe",
        transport=Transport.TCP if args.tcp else Transport.SERIAL,
        protocol=protocol,
        device=args.serial,
        baud=args.baud,
        parity=Parity(args.parity),
        host=host,
        port=port,
        timeout_ms=int(args.timeout * 1000),
    )


async def _probe(args: argparse.Namespace) -> dict[str, object]:
    bus = _bus(args)
    errors: Counter[str] = Counter()
    driver: Driver
    if args.protocol == "dlt645":
        if len(args.address) != 12 or not args.address.isdigit():
            raise ValueError(f"--address {args.address!r} is not 12 BCD digits")
        for di in args.di:
            if len(di) != 8 or not known_di(int(di, 16)):
                raise ValueError(f"--di {di!r} is not a DI of the DL/T 645 table")
        meter = Meter(id="probe", address=args.address)
        group = PollGroup(name="probe", every_s=1, dis=args.di)
        driver = Dlt645Driver(bus, ZoneInfo("Asia/Shanghai"), {}, lambda k: errors.update([k]))
    else:
        try:
            known = load(args.map).quantities()
        except MapLoadError as exc:
            raise ValueError(str(exc)) from None
        for q in args.quantity:
            if q not in known:
                raise ValueError(f"--quantity {q!r} is not in map {args.map!r}")
        meter = Meter(id="probe", unit=args.unit, map=args.map)
        group = PollGroup(name="probe", every_s=1, quantities=[Quantity(q) for q in args.quantity])
        driver = ModbusDriver(bus)
    try:
        values = await driver.poll(meter, group)
    except MeterTimeout as exc:
        if errors:
            seen = ", ".join(f"{n} {k}" for k, n in sorted(errors.items()))
            raise MeterTimeout(f"{exc} (malformed or foreign frames seen: {seen})") from None
        raise
    finally:
        await driver.close()
    return {
        "values": [{"quantity": v.quantity.value, "value": v.value, "ts": v.ts} for v in values],
        "frame_errors": dict(errors),
    }


def main(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(_probe(args))
    except ValueError as exc:
        print(f"probe: {exc}", file=sys.stderr)
        return 4
    except MeterTimeout as exc:
        print(f"probe: no valid reply: {exc}", file=sys.stderr)
        return 2
    except MeterReplyError as exc:
        print(f"probe: the meter answered with an error: {exc}", file=sys.stderr)
        return 3
    print(json.dumps(result, ensure_ascii=False, indent=2))
    return 0
