"""The prepaid engine inside the API process (a litestar lifespan hook).

Named background tasks, each switched by its setting and each stopped cleanly on shutdown:

* ``command-dispatcher`` — publishes queued commands, applies agents' acks, expires old ones
  (``METERLINE_COMMAND_DISPATCH``; unset, it runs wherever ingestion runs);
* ``prepaid-sweep`` — warnings, disconnects the policy says are due, episode bookkeeping
  (``METERLINE_PREPAID_SWEEP_SECONDS``; 0 turns it off);
* ``notice-delivery`` — the notices outbox to the provider (``METERLINE_PREPAID_NOTIFY_SECONDS``);
* ``idempotency-purge`` — forgets expired top-up keys (``METERLINE_IDEMPOTENCY_PURGE_HOURS``);
* ``after-ingest`` — in every API process (ingestion and field readings commit here), keeps
  up with the
  readings it commits: the consumption engine (``backend.metering.consumption``: daily kWh,
  anomalies), then billing (``METERLINE_PREPAID_BILLING``). The after-commit hook only merges
  spans; this task does the work, so ingestion never waits for it. Billing reads the readings
  themselves, not the consumption tables, so the order is for the logs, not for correctness.
  What a hook missed (a crash, ingestion in another process) is billed by the sweep's
  catch-up.

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

from backend.commands.dispatch import Dispatcher
from backend.metering import consumption
from backend.metering.ingest import AffectedInterval, register_after_commit, unregister_after_commit
from backend.prepaid import billing, channels, engine, topups
from backend.prepaid import notices as notifications
from backend.settings import Settings
from backend.types import to_epoch_ms, utcnow

log = logging.getLogger("meterline.prepaid")

Clock = Callable[[], datetime]
CATCH_UP_MS = 2 * 24 * 3600 * 1000  # the sweep's billing catch-up looks this far back


class AfterIngest:
    """What this process derives from the readings ingestion commits: consumption (daily kWh,
    anomalies), then billing. The after-commit hook only merges the spans (per meter and
    quantity, earliest to latest reading); one task does the work, so ingestion never waits
    for it. Shutdown finishes what is still queued."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], settings: Settings, *, bill: bool
    ) -> None:
        self.sessions, self.bill = sessions, bill
        self.timezone = settings.timezone
        self.pending: dict[tuple[int, str], tuple[int, int]] = {}
        self.ready = asyncio.Event()
        self.billed = 0  # accounts billed, for tests and logs

    async def after_commit(self, intervals: list[AffectedInterval]) -> None:
        for iv in intervals:
            old = self.pending.get((iv.meter_pk, iv.quantity))
            lo, hi = (min(old[0], iv.min_ts), max(old[1], iv.max_ts)) if old else (
                iv.min_ts, iv.max_ts,
            )  # fmt: skip
            self.pending[(iv.meter_pk, iv.quantity)] = (lo, hi)
        if intervals:
            self.ready.set()

    async def drain(self) -> None:
        batch, self.pending = self.pending, {}
        self.ready.clear()
        if not batch:
            return
        spans = [(pk, q, lo, hi) for (pk, q), (lo, hi) in batch.items()]
        await consumption.on_readings_committed(self.sessions, spans, timezone=self.timezone)
        if self.bill:
            done = await billing.on_readings_committed(
                self.sessions, spans, ZoneInfo(self.timezone)
            )
            self.billed += len(done)

    async def run(self) -> None:
        while True:
            await self.ready.wait()
            try:
                await self.drain()
            except Exception:  # the readings stay: the next batch, a rebuild or the catch-up
                log.exception("consumption / billing round failed")


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
    provider = channels.provider_for(settings, sessions)  # refuses auto-disconnect on "log"
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

    # In every API process: ingestion may run here, and field readings (HTTP) are committed here
    # in any case, so consumption and billing must follow them at once (R4, R7: read and bill
    # in one pass).
    derived = AfterIngest(sessions, settings, bill=settings.prepaid_billing)
    register_after_commit(derived.after_commit)
    tasks.append(asyncio.create_task(derived.run(), name="after-ingest"))
    app.state.after_ingest = derived
    app.state.prepaid_loops = loops
    tasks += [asyncio.create_task(lp.run(), name=name) for name, lp in loops.items()]
    try:
        yield
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        unregister_after_commit(derived.after_commit)
        await derived.drain()  # ingestion stopped before us: its last batches count too
        if dispatcher is not None:
            await dispatcher.stop()
