"""Helpers for end-to-end tests that run the agent and the simulators as processes beside the
API: waiting on conditions, child processes, the simulators' control port, and time settings
that open the disconnect window without waiting for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

T = TypeVar("T")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone in which it is now 12:xx, so the 09:00-16:00 window is open."""
    offset = 12 - now.astimezone(UTC).hour  # -11 .. +12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def past_weekday_morning(now: datetime) -> datetime:
    """09:00 Shanghai on a weekday at least two days back: office hours for the simulated
    meter, whose clock then stays behind real time for the whole test."""
    day = now.astimezone(SHANGHAI).date() - timedelta(days=2)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, tzinfo=SHANGHAI)


async def until(probe: Callable[[], Awaitable[T | None]], what: str, within_s: float = 60.0) -> T:
    """Poll ``probe`` until it returns something; fail naming ``what`` after ``within_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while (found := await probe()) is None:
        if loop.time() > deadline:
            raise AssertionError(f"not within {within_s}s: {what}")
        await asyncio.sleep(0.1)
    return found


@contextlib.asynccontextmanager
async def process(log: Path, *args: str, env: dict[str, str]) -> AsyncIterator[Any]:
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
        try:
            yield proc
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 20)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def control(port: int, command: str, meter: str) -> Any:
    """One line to the simulators' control port, e.g. ``state`` or ``button`` (the customer's
    press); the JSON answer for the first meter it names."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{command} {meter}\n".encode())
    line = (await reader.readline()).decode()
    writer.close()
    assert line.startswith("ok "), line
    return json.loads(line[3:])[0]


async def relay_of(port: int, meter: str) -> str:
    return str((await control(port, "state", meter))["relay"])


async def stop_server(server: Any, serving: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait_for(serving, 30)


async def true_if(value: bool) -> bool | None:
    return True if value else None


async def exists(path: Path) -> bool | None:
    return True if await asyncio.to_thread(path.exists) else None
