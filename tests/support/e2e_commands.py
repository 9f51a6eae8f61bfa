"""What a concentrator would do to a command, for browser journeys that run without a broker:
take it (dispatched), execute it and read the relay back, through the same service calls the
dispatcher and the ack handler make."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from backend.commands import service
from backend.commands.lifecycle import Event
from backend.commands.models import Command
from backend.db import create_engine, session_factory
from backend.types import to_epoch_ms, utcnow
from protocols.contract import CommandAck, CommandState, RelayState


async def _execute(database_url: str, command_id: str) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as s:
            c = await s.get(Command, command_id)
            assert c is not None
            await service.transition(s, c, Event.DISPATCH, "dispatcher", "published (test)")
            assert c.agent_id is not None
            ack = CommandAck(
                id=c.id, meter=c.meter_id, state=CommandState.EXECUTED,
                ts=to_epoch_ms(utcnow()), relay_state=RelayState(c.expected_relay_state or 0),
            )  # fmt: skip
            await service.apply_ack(s, ack, c.agent_id)
            await s.commit()
    finally:
        await engine.dispose()


def agent_executes(database_url: str, command_id: str) -> None:
    """Run in a thread's own event loop (Playwright's sync API holds the main thread's)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _execute(database_url, command_id)).result()
