"""The prepaid engine inside the API process (a litestar lifespan hook).

Named background tasks, each switched by its setting and each stopped cleanly on shutdown:

* ``command-dispatcher`` — publishes queued commands, applies agents' acks, expires old ones
  (``METERLINE_COMMAND_DISPATCH``; unset, it runs wherever ingestion runs);
* ``prepaid-sweep`` — warnings, disconnects the policy says are due, episode bookkeeping
  (``METERLINE_PREPAID_SWEEP_SECONDS``; 0 turns it off);
* ``notice-delivery`` — the notices outbox to the provider (``METERLINE_PREPAID_NOTIFY_SECONDS``);
* ``idempotency-purge`` — forgets expired top-up keys (``METERLINE_IDEMPOTENCY_PURGE_HOURS``);
* consumption — the consumption engine's hook (``backend.metering.consumption``) is registered
  here too, before billing, so the API process keeps daily consumption as it ingests;
* ``billing`` — charges the readings ingestion commits (``METERLINE_PREPAID_BILLING``): the
  after-commit hook only notes which meters got readings, and this task bills their accounts,
  so ingestion never waits for billing. Billing reads the readings themselves, not the
  consumption tables, so it needs no ordering against the consumption hook. What a hook
  missed (a crash, ingestion in another process) is billed by the sweep's catch-up.

This hook must be entered before ingestion's (``backend.app.lifespan_hooks``): the ingestor
takes the registered after-commit hooks when it is built.

With several API replicas, run the sweep in one of them (the others set the period to 0): the
notices are unique per episode whatever happens, but two sweeps could each queue a disconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts import billing, notifications, topups
from backend.commands import engine
from backend.commands.dispatch import Dispatcher
from backend.metering import consumption
from backend.metering.ingest import AffectedInterval, register_after_commit, unregister_after_commit
from backend.settings import Settings
from backend.types import to_epoch_ms, utcnow

log = logging.getLogger("meterline.prepaid")

Clock = Callable[[], datetime]
CATCH_UP_MS = 2 * 24 * 3600 * 1000  # the sweep's billing catch-up looks this far back


class BillingQueue:
    """Meters with new energy readings, coalesced (earliest reading per meter), billed by one
    task. Shutdown bills what is still queued."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], tz: ZoneInfo) -> None:
        self.sessions, self.tz = sessions, tz
        self.pending: dict[int, int | None] = {}
        self.ready = asyncio.Event()
        self.billed = 0  # accounts billed, for tests and logs

    async def after_commit(self, intervals: list[AffectedInterval]) -> None:
        for iv in intervals:
            if iv.quantity == billing.ENERGY:
                old = self.pending.get(iv.meter_pk, iv.min_ts)
                self.pending[iv.meter_pk] = min(iv.min_ts, old if old is not None else iv.min_ts)
                self.ready.set()

    async def drain(self) -> None:
        batch, self.pending = self.pending, {}
        self.ready.clear()
        if batch:
            self.billed += len(await billing.bill_meters(self.sessions, batch, self.tz))

    async def run(self) -> None:
        while True:
            await self.ready.wait()
            try:
                await self.drain()
            except Exception:  # the readings stay; the next reading or the catch-up bills them
                log.exception("billing round failed")


class Loop:
    """Run ``work`` every ``period_s`` seconds, or at once when woken; errors are logged and
    the next round tries again. The first round comes after one period (or a wake), so a
    starting process is not busy with housekeeping while it comes up."""

    def __init__(self, name: str, period_s: float, work: Callable[[], Awaitable[object]]) -> None:
        self.name, self.period_s, self.work = name, period_s, work
        self.wake = asyncio.Event()
        self.rounds = 0

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.period_s)
            self.wake.clear()
            try:
                await self.work()
            except Exception:
                log.exception("%s round failed", self.name)
            self.rounds += 1


async def _sweep(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> engine.SweepResult:
    async with sessions() as s:
        result = await engine.sweep(s, settings, clock())
        await s.commit()
    return result


async def _deliver(
    sessions: async_sessionmaker[AsyncSession], provider: notifications.NotificationProvider,
    clock: Clock,
) -> int:  # fmt: skip
    async with sessions() as s:
        n = await notifications.deliver_pending(s, provider, clock())
        await s.commit()
    return n


@asynccontextmanager
async def prepaid_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    # a test may hand in its own clock for the policy (app.state.prepaid_clock)
    clock: Clock = app.state.get("prepaid_clock") or utcnow
    provider = notifications.provider_for(settings.notification_provider)
    tasks: list[asyncio.Task[None]] = []
    dispatcher: Dispatcher | None = None
    loops: dict[str, Loop] = {}
    if settings.runs_command_dispatch:
        dispatcher = Dispatcher(sessions, settings)
        await dispatcher.start(connect_within_s=None)
        app.state.command_dispatcher = dispatcher
        tasks.append(asyncio.create_task(dispatcher.run(), name="command-dispatcher"))
    if settings.prepaid_notify_seconds > 0:
        loops["notice-delivery"] = Loop(
            "notice-delivery", settings.prepaid_notify_seconds,
            lambda: _deliver(sessions, provider, clock),
        )  # fmt: skip
    if settings.prepaid_sweep_seconds > 0:

        async def sweep_round() -> None:
            if settings.prepaid_billing:
                since = to_epoch_ms(clock()) - CATCH_UP_MS
                await billing.catch_up(sessions, ZoneInfo(settings.timezone), since)
            result = await _sweep(sessions, settings, clock)
            if "notice-delivery" in loops:
                loops["notice-delivery"].wake.set()  # warnings out now, not in a period
            if result.disconnects and dispatcher is not None:
                dispatcher.wake.set()

        loops["prepaid-sweep"] = Loop("prepaid-sweep", settings.prepaid_sweep_seconds, sweep_round)
    if settings.idempotency_purge_hours > 0:

        async def purge_round() -> None:
            async with sessions() as s:
                n = await topups.purge_keys(s, utcnow(), settings.idempotency_retention_days)
            if n:
                log.info("purged %d expired top-up idempotency keys", n)

        loops["idempotency-purge"] = Loop(
            "idempotency-purge", settings.idempotency_purge_hours * 3600, purge_round
        )

    # consumption first (daily kWh, anomalies), then billing; billing reads the readings
    # themselves, so the order is for the reader of the logs, not for correctness
    async def consumption_after_commit(intervals: list[AffectedInterval]) -> None:
        spans = [(i.meter_pk, i.quantity, i.min_ts, i.max_ts) for i in intervals]
        await consumption.on_readings_committed(sessions, spans, timezone=settings.timezone)

    register_after_commit(consumption_after_commit)
    queue: BillingQueue | None = None
    if settings.prepaid_billing:
        queue = BillingQueue(sessions, ZoneInfo(settings.timezone))
        register_after_commit(queue.after_commit)
        tasks.append(asyncio.create_task(queue.run(), name="billing"))
    app.state.billing_queue = queue
    app.state.prepaid_loops = loops
    tasks += [asyncio.create_task(lp.run(), name=name) for name, lp in loops.items()]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        unregister_after_commit(consumption_after_commit)
        if queue is not None:
            unregister_after_commit(queue.after_commit)
            await queue.drain()  # ingestion stopped before us: its last batches get billed
        if dispatcher is not None:
            await dispatcher.stop()
