"""A tiny line-based control port for simulators running in another process.

One command per line, one reply line (``ok …`` or ``error …``)::

    fault silent@111111111113      inject a fault (same syntax as --fault)
    clear 111111111113             clear faults (* for every meter)
    button 111111111111            the customer presses the relay button (closes from ready)
    power-fail 3 / power-restore 3 supply lost / back
    state 111111111111             relay state, supply and meter clock as JSON
    stats                          request counters per bus as JSON

Listen on loopback only: it is a test and demo aid, with no authentication.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

from edge_agent.simulators.faults import parse_fault
from edge_agent.simulators.fleet import Fleet


def execute(fleet: Fleet, line: str) -> str:
    """Run one control command against ``fleet``; the reply line."""
    command, _, argument = line.strip().partition(" ")
    argument = argument.strip()
    now = fleet.clock()
    try:
        if command == "fault":
            meter_id, fault = parse_fault(argument)
            return f"ok {fleet.set_fault(meter_id, fault)}"
        if command == "clear":
            return f"ok {fleet.set_fault(argument, None)}"
        if command == "stats":
            return "ok " + json.dumps(
                {f"{s.protocol}-{i}": dict(s.stats) for i, s in enumerate(fleet.servers)}
            )
        meters = fleet.meters(argument)
        if not meters:
            return f"error no simulated meter {argument!r}"
        if command == "button":
            return "ok " + json.dumps([m.model.press_button(now) for m in meters])
        if command == "power-fail":
            for meter in meters:
                meter.model.power_fail(now)
            return f"ok {len(meters)}"
        if command == "power-restore":
            for meter in meters:
                meter.model.power_restore(now)
            return f"ok {len(meters)}"
        if command == "state":
            return "ok " + json.dumps(
                [
                    {
                        "relay": m.model.relay.name.lower(),
                        "powered": m.model.powered,
                        "meter_time": m.model.meter_time(now).isoformat(timespec="seconds"),
                    }
                    for m in meters
                ]
            )
    except (KeyError, ValueError) as exc:
        return f"error {exc}"
    return f"error unknown command {command!r}"


async def serve_control(fleet: Fleet, host: str = "127.0.0.1", port: int = 0) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while line := await reader.readline():
                writer.write((execute(fleet, line.decode(errors="replace")) + "\n").encode())
                await writer.drain()
        writer.close()

    return await asyncio.start_server(client, host, port)
