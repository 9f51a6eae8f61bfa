"""The outage correlator inside the API process: every few seconds it reads the power events
ingestion stored and keeps the areas' outages (``backend.areas.correlator``). Several
processes may run it: the read position moves by compare-and-set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from litestar import Litestar

from backend.areas.correlator import correlate

log = logging.getLogger("meterline.areas")

CORRELATE_SECONDS = 2.0


@asynccontextmanager
async def areas_lifespan(app: Litestar) -> AsyncIterator[None]:
    tz = ZoneInfo(app.state.settings.timezone)

    async def loop() -> None:
        while True:
            await asyncio.sleep(CORRELATE_SECONDS)
            try:
                async with app.state.sessions() as session:
                    n = await correlate(session, tz)
                if n:
                    log.info("outages: %d power events applied", n)
            except Exception:
                log.exception("outage correlation failed")

    task = asyncio.create_task(loop(), name="outage-correlator")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
