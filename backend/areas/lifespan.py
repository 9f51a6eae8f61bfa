"""The outage correlator inside the API process: every ``METERLINE_AREAS_CORRELATE_SECONDS``
(0: not in this process) it reads the power events ingestion stored and keeps the areas'
outages (``backend.areas.correlator``), then judges the agents' last wills
(``backend.areas.wills``). Several processes may run it: the read position moves
by compare-and-set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from litestar import Litestar

from backend.areas.correlator import correlate
from backend.areas.wills import judge_wills
from backend.controllers import now_ms
from backend.servicedesk.workflow.service import working_time

log = logging.getLogger("meterline.areas")

IDLE_SECONDS = 1.0  # while turned off, how often to look whether it was turned on


@asynccontextmanager
async def areas_lifespan(app: Litestar) -> AsyncIterator[None]:
    tz = ZoneInfo(app.state.settings.timezone)
    wt = working_time(app.state.settings.prepaid_holiday_calendar, app.state.settings.timezone)

    async def loop() -> None:
        while True:
            period = app.state.settings.areas_correlate_seconds
            await asyncio.sleep(period if period > 0 else IDLE_SECONDS)
            if app.state.settings.areas_correlate_seconds <= 0:
                continue
            try:
                async with app.state.sessions() as session:
                    n = await correlate(session, tz, wt, now_ms(app.state))
                    wills = await judge_wills(session, tz, wt, now_ms(app.state))
                if n or wills:
                    log.info("outages: %d power events applied, %d wills judged", n, wills)
            except Exception:
                log.exception("outage correlation failed")

    task = asyncio.create_task(loop(), name="outage-correlator")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
