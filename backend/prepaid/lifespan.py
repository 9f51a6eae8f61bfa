"""The prepaid engine inside the API process (a litestar lifespan hook).

Named background tasks, each switched by its setting and each stopped cleanly on shutdown:

* ``command-dispatcher`` — publishes queued commands, applies agents' acks, expires old ones,
  on the process's MQTT session (``METERLINE_COMMAND_DISPATCH``; unset, it runs wherever
  ingestion runs);
* ``prepaid-sweep`` — billing's catch-up, warnings, disconnects the policy says are due,
  episode bookkeeping (``METERLINE_PREPAID_SWEEP_SECONDS``; 0 turns it off);
* ``notice-delivery`` — the notices outbox to the provider (``METERLINE_PREPAID_NOTIFY_SECONDS``);
* ``idempotency-purge`` — forgets expired top-up keys (``METERLINE_IDEMPOTENCY_PURGE_HOURS``);
* ``book-changes-compact`` — folds reading books' change logs (every 10 minutes), on the
  process that does any of the above.

Billing itself follows committed readings on metering's derived-data path (consumption, then
billing: ``backend.metering.derived``, wired in ``backend.app``). The sweep's catch-up sends
what that path missed (a crash, ingestion in another process) through the same path.

All of it but the acks runs on one process of the installation at a time, the leader
(``backend.system.leader``: a PostgreSQL advisory lock; on SQLite the process itself): with
several API replicas every one may have these settings on, one works, the others wait to take
over. Acks are applied wherever they arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.commands.dispatch import Dispatcher
from backend.metering.derived import DerivedData
from backend.prepaid import billing, channels, engine, sweep, topups
from backend.prepaid import notices as notifications
from backend.settings import Settings
from backend.system.leader import Leader
from backend.types import to_epoch_ms, utcnow

log = logging.getLogger("meterline.prepaid")

Clock = Callable[[], datetime]
CATCH_UP_MS = 2 * 24 * 3600 * 1000  # the sweep's billing catch-up looks this far back


class Loop:
    """Run ``work`` every ``period_s`` seconds, or at once when woken; errors are logged and
    the next round tries again. The first round comes after one period (or a wake), so a
    starting process is not busy with housekeeping while it comes up. With a ``leader``, only
    while it is held: a follower waits for leadership (which wakes it)."""

    def __init__(
        self,
        name: str,
        period_s: float,
        work: Callable[[], Awaitable[object]],
        leader: Leader | None = None,
    ) -> None:
        self.name, self.period_s, self.work = name, period_s, work
        self.leader = leader
        self.wake = asyncio.Event()
        self.rounds = 0

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.period_s)
            if self.leader is not None and not self.leader.held:
                await self.leader.gained.wait()
                continue  # gaining wakes every loop: the round comes at once
            self.wake.clear()
            try:
                await self.work()
            except Exception:
                log.exception("%s round failed", self.name)
            self.rounds += 1


async def catch_up_billing(
    derived: DerivedData, sessions: async_sessionmaker[AsyncSession], now_ms: int
) -> list[tuple[int, str, int, int]]:
    """Announce to the derived-data path the readings of the last ``CATCH_UP_MS`` that their
    account's billing has not reached (``billing.missed``), but not those of a chain the path
    is following (queued, or in its round): that round bills them. Announced again, the next
    round would find them materialised and billed already, and recompute the chain's days and
    compare the account's charges. Returns what was announced."""
    following = derived.following()
    missed = await billing.missed(sessions, now_ms - CATCH_UP_MS)
    following |= derived.following()  # a chain announced while the query ran
    spans = [span for span in missed if (span[0], span[1]) not in following]
    await derived.announce(spans)
    return spans


async def _sweep(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock, waited_s: float
) -> sweep.RunResult:
    """Incremental: the accounts whose verdict may have changed, in short transactions."""
    result = await sweep.run(sessions, settings, clock())
    log.info(
        "prepaid sweep: %d accounts examined in %d batches, %.1f s (longest batch %.2f s),"
        " after %.1f s for billing to catch up",
        result.examined, result.batches, result.seconds, result.longest_batch_s, waited_s,
    )  # fmt: skip
    return result


async def _deliver(
    sessions: async_sessionmaker[AsyncSession], provider: notifications.NotificationProvider,
    clock: Clock,
) -> int:  # fmt: skip
    async with sessions() as s:
        n = await notifications.deliver_pending(s, provider, clock())
        await s.commit()
    return n


async def _postpaid(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, clock: Clock
) -> None:
    from backend.expansion.changes import temporary
    from backend.servicedesk.workflow.service import working_time
    from backend.tariffs.bills import service as bills

    wt = working_time(settings.prepaid_holiday_calendar, settings.timezone)
    await temporary.close_ended(  # 临时用电 ended: closed before the round bills the month
        sessions, to_epoch_ms(clock()), ZoneInfo(settings.timezone), wt,
        bill=settings.prepaid_billing,
    )  # fmt: skip
    result = await bills.run_day(
        sessions, clock(), ZoneInfo(settings.timezone), due_day=settings.postpaid_due_day,
        overdue_days=settings.postpaid_overdue_reminder_days,
        channels=engine.channels(settings),
    )  # fmt: skip
    if result.issued or result.late_fee_fen or result.reminders:
        log.info(
            "postpaid: %d bills issued, %d fen late fees, %d reminders",
            result.issued, result.late_fee_fen, result.reminders,
        )  # fmt: skip


def _keyaccounts_monthly(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, leader: Leader
) -> Loop:
    """Key accounts' segments, credit, tags and levels for the last closed month, once."""
    from backend.keyaccounts.service import monthly_due

    async def monthly_round() -> None:
        async with sessions() as s:
            await monthly_due(s, utcnow(), ZoneInfo(settings.timezone))

    return Loop(
        "keyaccounts-monthly", settings.keyaccounts_monthly_check_hours * 3600, monthly_round,
        leader,
    )  # fmt: skip


BOOK_CHANGES_COMPACT_SECONDS = 600.0


def _book_changes(sessions: async_sessionmaker[AsyncSession], leader: Leader) -> Loop:
    """Reading books' change logs folded to one row a book (their ETags unchanged), so the
    rows every reading of a book's meter adds do not pile up."""
    from backend.field.books.service import compact_changes

    async def compact_round() -> None:
        n = await compact_changes(sessions)
        if n:
            log.info("reading books: %d change rows folded", n)

    return Loop("book-changes-compact", BOOK_CHANGES_COMPACT_SECONDS, compact_round, leader)


def _loops(
    app: Litestar, dispatcher: Dispatcher | None, clock: Clock, leader: Leader
) -> dict[str, Loop]:
    """The periodic tasks the settings switch on."""
    settings: Settings = app.state.settings
    sessions: async_sessionmaker[AsyncSession] = app.state.sessions
    derived: DerivedData = app.state.derived
    provider = channels.provider_for(settings, sessions)  # refuses auto-disconnect on "log"
    loops: dict[str, Loop] = {}
    if settings.prepaid_notify_seconds > 0:
        loops["notice-delivery"] = Loop(
            "notice-delivery", settings.prepaid_notify_seconds,
            lambda: _deliver(sessions, provider, clock), leader,
        )  # fmt: skip

    async def sweep_round() -> None:
        started = time.perf_counter()
        if settings.prepaid_billing:  # what the derived-data path missed, through it
            await catch_up_billing(derived, sessions, to_epoch_ms(clock()))
            # the balances as billed up to now, the catch-up's included; not ``settled``,
            # which a steady stream of readings never is (the sweep never ran under one)
            await derived.caught_up()
        result = await _sweep(sessions, settings, clock, time.perf_counter() - started)
        if "notice-delivery" in loops:
            loops["notice-delivery"].wake.set()  # warnings out now, not in a period
        if result.disconnects and dispatcher is not None:
            dispatcher.wake.set()

    async def purge_round() -> None:
        async with sessions() as s:
            n = await topups.purge_keys(s, utcnow(), settings.idempotency_retention_days)
        if n:
            log.info("purged %d expired top-up idempotency keys", n)

    if settings.prepaid_sweep_seconds > 0:
        loops["prepaid-sweep"] = Loop(
            "prepaid-sweep", settings.prepaid_sweep_seconds, sweep_round, leader
        )
    if settings.postpaid_bills_seconds > 0:
        loops["postpaid-bills"] = Loop(
            "postpaid-bills", settings.postpaid_bills_seconds,
            lambda: _postpaid(sessions, settings, clock), leader,
        )  # fmt: skip
    if settings.idempotency_purge_hours > 0:
        loops["idempotency-purge"] = Loop(
            "idempotency-purge", settings.idempotency_purge_hours * 3600, purge_round, leader
        )
    if settings.keyaccounts_monthly_check_hours > 0:  # docs/key-accounts.md "The monthly run"
        loops["keyaccounts-monthly"] = _keyaccounts_monthly(sessions, settings, leader)
    return loops


@asynccontextmanager
async def prepaid_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # a test may hand in its own clock for the policy (app.state.prepaid_clock)
    clock: Clock = app.state.get("prepaid_clock") or utcnow
    tasks: list[asyncio.Task[None]] = []
    leader = Leader(settings.database_url, eligible=app.state.get("leader_eligible", True))
    dispatcher: Dispatcher | None = None
    if settings.runs_command_dispatch:
        dispatcher = Dispatcher(app.state.sessions, settings, app.state.mqtt, leader)
        app.state.command_dispatcher = dispatcher
        tasks.append(asyncio.create_task(dispatcher.run(), name="command-dispatcher"))
    loops = _loops(app, dispatcher, clock, leader)
    if loops:  # housekeeping with the rest of the single-leader work (docs/field.md)
        loops["book-changes-compact"] = _book_changes(app.state.sessions, leader)
    app.state.prepaid_loops = loops
    tasks += [asyncio.create_task(lp.run(), name=name) for name, lp in loops.items()]
    if tasks:  # some single-leader work is switched on here: compete for the lead
        app.state.leader = leader
        wakes = [lp.wake for lp in loops.values()] + ([dispatcher.wake] if dispatcher else [])
        leader.on_gained += [w.set for w in wakes]
        tasks.append(asyncio.create_task(leader.run(), name="leader"))
    try:
        yield
    finally:
        if dispatcher is not None:
            await dispatcher.stop()  # the acks in hand committed and acknowledged
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
