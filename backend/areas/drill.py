"""Power-cut drills on the demo's simulated meters: the simulators' line-based control port
(``edge_agent simulate --control``, docs/edge-agent.md) takes ``power-fail ADDRESS`` and
``power-restore ADDRESS``. The cut then travels the real way: the meters fall silent, the agent
reports the bus dark as power failures, ingestion stores them, the correlator opens the outage."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

TIMEOUT_S = 5.0


async def send(control: str, addresses: Sequence[str], restore: bool) -> int:
    """Cut (or restore) each meter; returns how many the simulators acknowledged."""
    host, _, port = control.rpartition(":")
    command = "power-restore" if restore else "power-fail"
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), TIMEOUT_S)
    done = 0
    try:
        for address in addresses:
            writer.write(f"{command} {address}\n".encode())
            await writer.drain()
            reply = await asyncio.wait_for(reader.readline(), TIMEOUT_S)
            done += reply.startswith(b"ok")
    finally:
        writer.close()
        await writer.wait_closed()
    return done
