"""The work-order sweep inside the API process: every minute, passed deadlines are applied
(pushed on or escalated, see ``service.sweep``). It runs where the prepaid sweep runs
(``METERLINE_PREPAID_SWEEP_SECONDS`` > 0), so with several replicas one process does it; two
sweeps at once would still be safe (every change is a compare-and-set)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from backend.controllers import now_ms
from backend.servicedesk.orders import decisions
from backend.servicedesk.workflow.service import working_time
from backend.settings import Settings

log = logging.getLogger("meterline.servicedesk")
PERIOD_S = 60.0


async def _run(app: Litestar) -> None:
    settings: Settings = app.state.settings
    wt = working_time(settings.prepaid_holiday_calendar, settings.timezone)
    while True:
        await asyncio.sleep(PERIOD_S)
        try:
            async with app.state.sessions() as session:
                done = await decisions.sweep(session, wt, now_ms(app.state))
            if done.advanced or done.escalated:
                log.info(
                    "work-order sweep: %d pushed on, %d escalated", done.advanced, done.escalated
                )
        except Exception:  # the next round tries again
            log.exception("work-order sweep failed")


@asynccontextmanager
async def servicedesk_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    task = (
        asyncio.create_task(_run(app), name="work-order-sweep")
        if settings.prepaid_sweep_seconds > 0
        else None
    )
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
