"""Metering's derived-data path: what follows a committed reading, in one place.

Whoever commits readings announces them here once, as *affected intervals* — per (meter,
quantity) that got new readings, the earliest and latest acquisition time among them:

* ingestion, after each committed and acknowledged batch (``announce``: it only merges the
  spans and returns, so ingestion never waits for what follows);
* field readings and approved corrections, after their commit (``announce_now``: consumption
  runs at once in the caller, so the inspector's next request already sees it — read and bill
  in one pass, 遍抄遍算 — and what follows consumption is queued).

Then, in this order and once per announcement: consumption (``backend.metering.consumption``:
daily kWh, anomalies), then the *followers* handed to the path when the application is built
(billing, ``backend.prepaid.billing.on_readings_committed``), all on one task of this process.
Billing derives its intervals from consumption's chain (``backend.metering.intervals``), so
the order matters; within a round it walks the chains consumption has just read
(``consumption.round_points``) instead of reading them again.

No global registry: the application creates one ``DerivedData`` with its followers and hands
it to ingestion and to the field-reading routes (``app.state.derived``).

While whoever announces is still *behind* — ingestion draining a backlog, its last batch taken
with more messages waiting (``Ingestor.is_behind``) — a round waits for its batches to gather,
for at most ``hold_s`` after the oldest announcement it would take: a chain billed once for a
backlog's many readings costs far less than billed once for every batch, and a steady stream
(the announcer never behind) is followed at once, as before. A round takes at most
``MAX_ROUND_READINGS`` announced readings' chains, oldest first, and the next one starts at
once with the rest: a backlog is followed in rounds of a bounded size, not in one that grows
with it.

Delivery is at most once per process: a crash between commit and this path loses the
announcement (the readings are safe). The prepaid sweep's billing catch-up goes through
``catch_up`` for what an announcement missed, and ``consumption.rebuild`` recomputes a meter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.metering import consumption

log = logging.getLogger("meterline.derived")

HOLD_S: Final = 2.0  # the longest a round waits for a draining backlog's batches
# A round's share of what is queued, in readings announced: a backlog draining faster than
# it is followed (ingestion outruns billing about two to one) would otherwise grow each round
# by what arrived during the last, and the process's memory with it (a round holds its
# chains' points, intervals and charges at once). Chains are taken in the order they were
# first announced, so what one round leaves is the first the next one takes. Twice what a
# held round gathers from ingestion at full speed (2 s at 55,000-65,000 readings/s here):
# an ordinary backlog's rounds are not cut, a runaway's are.
MAX_ROUND_READINGS: Final = 250_000
_LOOK_S: Final = 0.05  # while holding, look again this often (a batch may announce nothing)


class AffectedInterval(NamedTuple):
    meter_pk: int  # meters.id
    quantity: str  # a contract Quantity code, e.g. "energy_import"
    min_ts: int  # UTC epoch ms, acquisition time of the oldest new reading
    max_ts: int  # UTC epoch ms, of the newest new reading
    readings: int  # how many new readings


Span = tuple[int, str, int, int]  # (meter_pk, quantity, min_ts, max_ts)
# What follows consumption: called with the session factory, the merged spans and the zone.
Follower = Callable[[async_sessionmaker[AsyncSession], list[Span], ZoneInfo], Awaitable[object]]


def intervals_from(keys: Iterable[tuple[int, str, int]]) -> list[AffectedInterval]:
    """Aggregate inserted (meter_pk, quantity, ts) keys into intervals."""
    spans: dict[tuple[int, str], list[int]] = {}
    for pk, quantity, ts in keys:
        span = spans.get((pk, quantity))
        if span is None:
            spans[(pk, quantity)] = [ts, ts, 1]
        else:
            if ts < span[0]:
                span[0] = ts
            elif ts > span[1]:
                span[1] = ts
            span[2] += 1
    return [AffectedInterval(pk, q, lo, hi, n) for (pk, q), (lo, hi, n) in spans.items()]


# (meter_pk, quantity) → (min_ts, max_ts, readings announced), in the order first announced
Merged = dict[tuple[int, str], tuple[int, int, int]]


def _merge(into: Merged, spans: Iterable[Sequence[Any]]) -> None:
    """Widen each chain's span (a chain already queued keeps its place in the queue); an
    announcement without a count of readings (a bare span) counts one."""
    for iv in spans:
        pk, quantity, lo, hi = iv[0], iv[1], iv[2], iv[3]
        n = iv[4] if len(iv) > 4 else 1
        old = into.get((pk, quantity))
        into[(pk, quantity)] = (
            (min(old[0], lo), max(old[1], hi), old[2] + n) if old else (lo, hi, n)
        )


def share(queued: Merged, readings: int) -> Merged:
    """The first chains queued, up to ``readings`` announced readings (at least one chain),
    removed from ``queued``."""
    taken: Merged = {}
    total = 0
    for key, span in queued.items():
        if taken and total + span[2] > readings:
            break
        taken[key] = span
        total += span[2]
    for key in taken:
        del queued[key]
    return taken


def _spans(merged: Merged) -> list[Span]:
    return [(pk, q, lo, hi) for (pk, q), (lo, hi, _) in sorted(merged.items())]


@dataclass
class _Waiter:
    """A ``caught_up`` caller: rounds numbered above ``after`` count; ``running``: the round
    in progress when it asked has not ended; ``queued``: the chains queued then, not yet
    followed by a later round."""

    after: int
    running: bool
    queued: set[tuple[int, str]]
    done: asyncio.Future[None]


class DerivedData:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        timezone: str,
        followers: Sequence[Follower] = (),
        *,
        behind: Callable[[], bool] | None = None,
        hold_s: float = HOLD_S,
        max_readings: int = MAX_ROUND_READINGS,
    ) -> None:
        """``behind``: whether the announcer still has work queued (ingestion's
        ``Ingestor.is_behind``, set once ingestion exists); a round waits for it, for at most
        ``hold_s`` after the oldest announcement it would take. ``max_readings``: a round's
        share of the queue."""
        self.sessions = sessions
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.followers = list(followers)
        self._consume: Merged = {}  # consumption, then followers
        self._follow: Merged = {}  # consumption done: followers
        self._in_round: set[tuple[int, str]] = set()  # the chains of the round in progress
        self._round_no = 0  # rounds started
        self._waiters: list[_Waiter] = []  # ``caught_up`` callers
        self.behind = behind
        self.hold_s = hold_s
        self.max_readings = max_readings
        self._since: float | None = None  # loop time of the oldest announcement not yet taken
        self._ready = asyncio.Event()
        self._announced = asyncio.Event()  # set by every announcement (wakes a held round)
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.rounds = 0  # consumption runs, for tests and logs
        self.failures = 0
        self.held = 0  # rounds that waited for a draining backlog

    # --- announcements ------------------------------------------------------------------

    async def announce(self, intervals: Sequence[Sequence[Any]]) -> None:
        """Readings were committed (ingestion): queue consumption and its followers."""
        if intervals:
            _merge(self._consume, intervals)
            self._wake()

    async def announce_now(self, intervals: Sequence[Sequence[Any]]) -> None:
        """Readings were committed (a field reading): consumption now, in the caller; its
        followers queued. A failure is logged — the readings are committed and safe, and the
        next reading, a rebuild or billing's catch-up repairs what it missed."""
        merged: Merged = {}
        _merge(merged, intervals)
        if not merged:
            return
        await self._consumption(_spans(merged))
        _merge(self._follow, _spans(merged))
        self._wake()

    def _wake(self) -> None:
        if self._since is None:
            self._since = asyncio.get_running_loop().time()
        self._idle.clear()
        self._ready.set()
        self._announced.set()

    # --- the work -----------------------------------------------------------------------

    async def _consumption(self, spans: list[Span]) -> None:
        self.rounds += 1
        try:
            await consumption.on_readings_committed(self.sessions, spans, timezone=self.timezone)
        except Exception:
            self.failures += 1
            log.exception("consumption not recomputed for %d chains", len(spans))

    async def drain(self) -> None:
        """One round: consumption for the first announced chains (up to ``max_readings``),
        then every follower for these and for those whose consumption already ran. What it
        leaves stays queued, first in line, for the next round, which starts at once."""
        consume, follow = share(self._consume, self.max_readings), self._follow
        self._follow = {}
        if not self._consume:
            self._since = None
            self._ready.clear()
        self._in_round = {*consume, *follow}
        self._round_no += 1
        try:
            await self._round(consume, follow)
        finally:
            self._ended(self._round_no, self._in_round)
            self._in_round = set()
        if not self._consume and not self._follow:
            self._idle.set()

    async def _round(self, consume: Merged, follow: Merged) -> None:
        # the followers walk the chains consumption read; billing reads a chain announced
        # again meanwhile only up to this round's announcement (the next round reads on)
        with consumption.round_points(later=self._queued):
            if consume:
                await self._consumption(_spans(consume))
            _merge(follow, _spans(consume))
            spans = _spans(follow)
            for follower in self.followers if spans else ():
                try:
                    await follower(self.sessions, spans, self.zone)
                except Exception:
                    self.failures += 1
                    name = getattr(follower, "__qualname__", repr(follower))
                    log.exception("%s failed for %d chains", name, len(spans))

    def following(self) -> set[tuple[int, str]]:
        """The (meter, quantity) chains queued or in the round in progress: what this path
        will still follow, as announced."""
        return {*self._consume, *self._follow, *self._in_round}

    @property
    def is_settled(self) -> bool:
        """Everything announced so far has been followed (readable from any thread)."""
        return self._idle.is_set()

    async def settled(self) -> None:
        """Wait until everything announced so far has been followed."""
        await self._idle.wait()

    def _queued(self, chain: tuple[int, str]) -> bool:
        """A later round will follow this chain: it is queued again."""
        return chain in self._consume or chain in self._follow

    async def caught_up(self) -> None:
        """Wait until what was announced before this call has been followed: the round in
        progress has ended, and every chain queued now has been taken by a round that then
        ended. Unlike ``settled``, a later announcement is not waited for, so under a steady
        stream (never settled) this still returns, once the rounds that take what was queued
        then have ended (the prepaid sweep waits so before it decides on balances)."""
        queued = {*self._consume, *self._follow}
        if not queued and not self._in_round:
            return
        waiter = _Waiter(
            self._round_no, bool(self._in_round), queued,
            asyncio.get_running_loop().create_future(),
        )  # fmt: skip
        self._waiters.append(waiter)
        try:
            await waiter.done
        finally:
            self._waiters.remove(waiter)

    def _ended(self, round_no: int, taken: set[tuple[int, str]]) -> None:
        """Round ``round_no`` ended, having followed ``taken``: tell whom that catches up."""
        for w in self._waiters:
            if round_no == w.after:
                w.running = False  # the round in progress when it asked
            elif round_no > w.after:  # a round that started after it asked
                w.queued -= taken
            if not w.running and not w.queued and not w.done.done():
                w.done.set_result(None)

    async def _hold(self) -> None:
        """While the announcer is behind, let its batches gather into this round, for at
        most ``hold_s`` after the oldest announcement waiting."""
        behind = self.behind
        if behind is None or self._since is None or not behind():
            return
        self.held += 1
        loop = asyncio.get_running_loop()
        deadline = self._since + self.hold_s
        while not self._stopping and behind():
            left = deadline - loop.time()
            if left <= 0:
                return
            self._announced.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._announced.wait(), min(left, _LOOK_S))

    async def run(self) -> None:
        while not self._stopping:
            await self._ready.wait()
            await self._hold()
            await self.drain()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="derived-data")

    async def stop(self) -> None:
        """Finish the round in hand, then do what is still queued (ingestion stopped before
        us: its last batches count too)."""
        self._stopping = True
        self._ready.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while self._consume or self._follow:
            await self.drain()
