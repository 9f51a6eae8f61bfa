"""The batching writer: received items in, committed batches out, PUBACKs only after commit.

One task, one batch at a time, in arrival order, so acknowledgements leave in the order the
messages came (as MQTT requires) and a crash at any instant leaves every unacknowledged message
with the broker. While a batch commits the event loop keeps receiving, so the next batch is
usually full by the time the commit returns.

A batch closes when it holds ``batch_size`` readings, when its oldest message has waited
``batch_ms``, when the broker cannot send more (the MQTT 5 receive window is full), or when
the stream pauses briefly (a 3.1.1 broker's own in-flight limit is unknown to us; waiting for
the full ``batch_ms`` there would cap throughput at one window per ``batch_ms``).

Failures: a transient database error (connection lost, lock, disk full) is retried with capped
backoff, forever — nothing is acknowledged meanwhile. A permanent one (the database refuses the
data itself) is narrowed down by splitting the batch until the one message at fault is found,
which then becomes a dead letter with the database's reason; ingestion carries on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from backend.metering.derived import AffectedInterval
from backend.metering.ingest.inbox import Item
from backend.metering.ingest.plan import MeterRef, Plan, Screen, build_plan
from backend.metering.ingest.stats import IngestStats
from backend.metering.ingest.store import Store, WriteResult
from backend.metering.quarantine.rules import Chains, Limits, Rating
from protocols.backoff import backoff_delay
from protocols.contract import AgentBirth, EventKind

log = logging.getLogger("meterline.ingest")

# Told after each committed and acknowledged batch which (meter, quantity, span) got new
# readings: in the API process, the derived-data path's ``announce``.
AfterCommit = Callable[[list[AffectedInterval]], Awaitable[None]]

IDLE_S = 0.003  # a pause this long in the stream closes the batch early
SEEN_EVERY_S = 60.0  # write a meter's last_seen_at at most this often
RECHECK_OWNER_S = 60.0  # re-read a meter that seems to belong to another agent after this
REFUSED = "database refused it: "


class Abandoned(Exception):
    """Shutdown gave up waiting for the database; the batch stays unacknowledged."""


class Writer:
    def __init__(
        self,
        store: Store,
        *,
        batch_size: int,
        batch_ms: int,
        stats: IngestStats,
        hooks: Sequence[AfterCommit] = (),
        limits: Limits | None = None,
    ) -> None:
        self.store = store
        self.limits = limits  # plausibility (quarantine); None: nothing is held
        self.chains = Chains()
        self.batch_size = max(1, batch_size)
        self.batch_s = max(0, batch_ms) / 1000
        self.stats = stats
        self.hooks = list(hooks)
        self.window: int | None = None  # messages the broker may send before we ack (MQTT 5)
        # flow control: with a full batch in hand besides the one committing, stop reading; read
        # again as soon as that batch is taken to commit (a message then waits for at most the
        # commit ahead of it and its own)
        self.high_water = self.batch_size
        self.throttle: Callable[[bool], None] = lambda _on: None
        self._throttled = False
        self._pending: deque[Item] = deque()
        self._pending_size = 0
        self._last_arrival = 0.0
        self._wake = asyncio.Event()
        self._closing = False
        self._abandon = False
        self._agents: set[str] = set()
        self._refs: dict[str, MeterRef] = {}
        self._fetched: dict[str, float] = {}
        self._seen_written: dict[int, float] = {}
        self._ratings: dict[int, Rating] = {}  # meter pk → rating, as resolved
        self.idle = asyncio.Event()  # set whenever nothing is pending or in flight
        self.idle.set()
        # the last batch taken was full or left messages waiting: a backlog is being drained
        # (a steady stream's batch closes on time with everything that came: the flag is down)
        self.behind = False

    # --- intake (called for every message, from the event loop) ---------------------------

    def offer(self, item: Item) -> None:
        self._pending.append(item)
        self._pending_size += item.size
        self._last_arrival = item.received
        if self._pending_size >= self.high_water and not self._throttled:
            self._throttled = True
            self.throttle(True)
        self.stats.messages += 1
        if self.idle.is_set():
            self.idle.clear()
        if not self._wake.is_set():
            self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._pending)

    @property
    def last_arrival(self) -> float:
        """time.monotonic() of the last message received (0 before the first)."""
        return self._last_arrival

    # --- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        try:
            while True:
                if not self._pending:
                    self.idle.set()
                    self.behind = False  # caught up
                    if self._closing:
                        return
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                await self._fill()
                items = self._take()
                result = await self._commit(items)
                self._ack(items)
                await self._notify(result)
        except Abandoned:
            log.warning("shutdown: %d messages left unacknowledged for redelivery", self.backlog)

    async def close(self, timeout_s: float = 30.0) -> None:
        """Commit and acknowledge everything received, then return (or give up after
        ``timeout_s``, leaving the rest unacknowledged for the broker to redeliver)."""
        self._closing = True
        self._wake.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained(), timeout_s)
            return
        self._abandon = True

    async def _drained(self) -> None:
        while self._pending or not self.idle.is_set():
            await self.idle.wait()
            if self._pending:
                await asyncio.sleep(0.01)

    async def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = self._pending[0].received + self.batch_s
        while not self._closing and self._pending_size < self.batch_size:
            if self._throttled or (self.window is not None and len(self._pending) >= self.window):
                return  # nothing more will arrive before we commit
            now = loop.time()
            if now >= deadline or now - self._last_arrival >= IDLE_S:
                return
            await asyncio.sleep(min(IDLE_S, deadline - now))

    def _take(self) -> list[Item]:
        items: list[Item] = []
        size = 0
        pending = self._pending
        while pending and (not items or size + pending[0].size <= self.batch_size):
            item = pending.popleft()
            items.append(item)
            size += item.size
        self._pending_size -= size
        self.behind = bool(pending) or self._throttled or size >= self.batch_size
        if self._throttled and self._pending_size < self.high_water:
            self._throttled = False
            self.throttle(False)
        return items

    def _ack(self, items: list[Item]) -> None:
        now = time.monotonic()
        link: Any = None
        mids: list[int] = []
        taken: list[tuple[Any, Any, int | None]] = []
        for item in items:
            if item.qos and item.link is not None:
                if item.link is not link:
                    if link is not None:
                        link.ack(mids)
                        link.receipt(taken)  # committed: tell the agents (one per agent)
                    link, mids, taken = item.link, [], []
                mids.append(item.mid)
                taken.append((item.agent, item.channel, item.seq))
        if link is not None:
            link.ack(mids)
            link.receipt(taken)
        self.stats.latency.add_many([now - item.received for item in items])

    async def _notify(self, result: WriteResult) -> None:
        if not result.intervals:
            return
        for hook in self.hooks:
            try:
                await hook(result.intervals)
            except Exception:
                self.stats.hook_errors += 1
                log.exception("after-commit hook %r failed", hook)

    # --- committing ---------------------------------------------------------------------

    async def _commit(self, items: list[Item]) -> WriteResult:
        """Commit ``items`` (splitting around a message the database refuses)."""
        result = WriteResult()
        plan: Plan | None = None
        attempt = 0
        while True:
            if self._abandon:
                raise Abandoned
            try:
                if plan is None or not result.data_done:
                    plan = await self._plan(items)
                started = time.monotonic()
                await self.store.write(plan, result, intervals=bool(self.hooks))
                self.stats.commit.add(time.monotonic() - started)
                self._count(plan, result)
                for (pk, quantity), point in plan.accepted.items():
                    self.chains.accept(pk, quantity, point)
                return result
            except Exception as exc:
                if self.store.is_permanent(exc) and not result.data_done:
                    return await self._isolate(items, exc)
                if self.store.is_permanent(exc):  # the data is in; only bookkeeping failed
                    log.error("batch bookkeeping refused, skipped: %s", exc)
                    self._count(plan, result)  # type: ignore[arg-type]
                    return result
                attempt += 1
                self.stats.retries += 1
                delay = backoff_delay(attempt, 0.2, 30.0, random.random())
                log.warning(
                    "commit failed (%s: %s); retry in %.1fs", type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)

    async def _isolate(self, items: list[Item], exc: BaseException) -> WriteResult:
        if len(items) == 1:
            item = items[0]
            if item.message is None and item.reason and item.reason.startswith(REFUSED):
                # even its dead letter was refused: say so as loudly as we can, and move on
                log.critical(
                    "message on %s (%d bytes) could not be stored even as a dead letter: %s",
                    item.topic,
                    len(item.payload),
                    exc,
                )
                self.stats.dropped += 1
                return WriteResult()
            log.error("database refused a message on %s: %s", item.topic, exc)
            item.reason = f"{REFUSED}{type(exc).__name__}: {exc}"
            item.message = None
            return await self._commit(items)
        half = len(items) // 2
        left = await self._commit(items[:half])
        right = await self._commit(items[half:])
        left.intervals.extend(right.intervals)
        return left

    def _count(self, plan: Plan, result: WriteResult) -> None:
        s = self.stats
        s.batches += 1
        s.readings_received += len(plan.rows)
        s.accepted += result.inserted
        s.duplicates += len(plan.rows) - result.inserted
        s.events_accepted += result.events_inserted
        s.events_duplicates += len(plan.events) - result.events_inserted
        s.dead_letters += len(plan.dead)
        s.states += result.states
        s.gaps += result.gaps
        s.gaps_filled += result.gaps_filled

    async def _plan(self, items: list[Item]) -> Plan:
        agents = {item.agent for item in items if item.agent is not None}
        unknown = agents - self._agents
        if unknown:
            await self.store.ensure_agents(sorted(unknown))
            self._agents |= unknown
        await self._resolve(items)
        now = time.monotonic()
        written = self._seen_written
        screen = None
        if self.limits is not None:
            screen = Screen(self.limits, self.chains, self._ratings)
        plan = build_plan(items, self._refs, written, now - SEEN_EVERY_S, screen)
        for pk in plan.meters_seen:
            written[pk] = now
        for pk, _ts, kind, _v, _t, _r in plan.events:
            if kind == EventKind.OFFLINE:  # the next fresh reading must bring it back at once
                written.pop(pk, None)
        return plan

    async def _resolve(self, items: list[Item]) -> None:
        """Make sure every meter the items name has a ref: registered (pending under the
        reporting agent if unknown)."""
        refs, fetched = self._refs, self._fetched
        now = time.monotonic()
        need: dict[str, dict[str, tuple[str, str]]] = {}
        for item in items:
            agent = item.agent
            if item.message is None or not item.meters or agent is None:
                continue
            for meter in item.meters:
                ref = refs.get(meter)
                if ref is None or (
                    ref.agent_id != agent and now - fetched[meter] >= RECHECK_OWNER_S
                ):
                    need.setdefault(agent, {})[meter] = ("", "")
            if isinstance(item.message, AgentBirth) and agent in need:
                wanted = need[agent]
                for info in item.message.meters:
                    if info.meter in wanted:
                        wanted[info.meter] = (info.protocol, info.address)
        for agent, wanted in need.items():
            found, created = await self.store.resolve_meters(agent, wanted)
            refs.update(found)
            self._ratings.update({ref.pk: ref.rating for ref in found.values()})
            fetched.update(dict.fromkeys(found, now))
            self.stats.pending_meters += created
            if created:
                log.info("agent %s: %d unknown meters registered as pending", agent, created)
