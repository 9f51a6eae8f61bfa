"""One scheduler per physical bus: one transaction at a time, an inter-frame gap between them,
commands ahead of routine polls, and silent meters backed off so they cannot starve the bus.

Timestamps: a value is stamped with the moment its reply arrived (the driver does it), also for
energy groups aligned to :00/:15/:30/:45 — the alignment decides when we *ask*, never what time
we *claim*. The backend sees the true acquisition time and interpolates to boundaries itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from edge_agent.aio import raise_if_cancelled
from edge_agent.config import AgentConfig, Bus, Meter, PollGroup
from edge_agent.database import StorageError
from edge_agent.drivers.base import Driver, MeterError, MeterTimeout
from edge_agent.meterstate import MeterStates
from edge_agent.metrics import Metrics
from edge_agent.outbox import Outbox, now_ms
from edge_agent.pacing import Pace
from protocols.contract import EventKind, MeterEvent

log = logging.getLogger("edge_agent.scheduler")
T = TypeVar("T")

COMMAND_PRIORITY = 0
POLL_PRIORITY = 1
POWER_RECORD_SLACK_MS = 15 * 60_000  # a power-down record this far before a silence is its cause


def next_due(group: PollGroup, after: float, tz: ZoneInfo, stretch: float = 1.0) -> float:
    """The next time (epoch s) to poll ``group`` after ``after``: a wall-clock multiple of
    every_s in local time when aligned (00:00, 00:15, … for 900 s), else after + every_s.
    Stretched by overload (edge_agent/pacing.py): every_s × stretch, or, aligned, every
    ⌈stretch⌉-th multiple, so an aligned group stays on its wall-clock grid."""
    if not group.align:
        return after + group.every_s * stretch
    offset = datetime.fromtimestamp(after, tz).utcoffset()
    shift = offset.total_seconds() if offset else 0.0
    slots = math.ceil(stretch - 1e-9)
    return (math.floor((after + shift) / group.every_s) + slots) * group.every_s - shift


@dataclass
class MeterRun:
    meter: Meter
    groups: list[PollGroup]
    due: dict[str, float]
    failures: int = 0
    retry_at: float = 0.0
    next_clock_check: float = 0.0
    needs_backfill: bool = True  # after start and after every outage
    silent_since_ms: int | None = None  # the first unanswered poll of this silence
    dark: bool = False  # reported as without supply (the whole bus went silent)
    offline_from_ms: int | None = None  # this silence went offline: read the meter's record
    fresh: bool = True  # no good poll since the agent started: it may have missed a cut
    shortest: float = field(init=False)

    def __post_init__(self) -> None:
        self.shortest = min((g.every_s for g in self.groups), default=60.0)


@dataclass(order=True)
class _Job:
    priority: int
    order: int
    run: Callable[[Driver], Awaitable[Any]] = field(compare=False)
    done: asyncio.Future[Any] = field(compare=False)


class BusScheduler:
    def __init__(
        self,
        config: AgentConfig,
        bus: Bus,
        driver: Driver,
        outbox: Outbox,
        metrics: Metrics,
        states: MeterStates,
        clock: Callable[[], float] = time.time,
        lag: Callable[[], float] = lambda: 0.0,
    ) -> None:
        self.config = config
        self.bus = bus
        self.driver = driver
        self.outbox = outbox
        self.metrics = metrics
        self.states = states
        self.clock = clock
        self.tz = ZoneInfo(config.timezone)
        self.jobs: asyncio.PriorityQueue[_Job] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._wake = asyncio.Event()
        start = clock()
        self.meters = {
            m.id: MeterRun(
                m,
                groups := config.groups_of(bus, m),
                {g.name: next_due(g, start, self.tz) if g.align else start for g in groups},
            )
            for m in bus.meters
        }
        # overload control per poll group of this bus (edge_agent/pacing.py)
        self.lag = lag
        self.paces: dict[str, Pace] = {}
        for run in self.meters.values():
            for g in run.groups:
                if g.name not in self.paces:
                    self.paces[g.name] = Pace(
                        g.every_s, config.overload.target_lag_s, config.overload.max_stretch
                    )
                    self._show(g.name)

    async def submit(
        self, run: Callable[[Driver], Awaitable[T]], priority: int = COMMAND_PRIORITY
    ) -> T:
        """Run ``run(driver)`` on this bus between two transactions, ahead of routine polls."""
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        await self.jobs.put(_Job(priority, next(self._order), run, fut))
        self._wake.set()
        return await fut

    async def run(self) -> None:
        try:
            while True:
                await self._step()
                raise_if_cancelled()  # the driver's wait_for may have lost our cancel
        finally:
            await self.driver.close()

    async def _step(self) -> None:
        if not self.jobs.empty():
            job = self.jobs.get_nowait()
            try:
                job.done.set_result(await job.run(self.driver))
            except Exception as exc:  # the job's owner decides what a failure means
                if not job.done.done():
                    job.done.set_exception(exc)
            await self._gap()
            return
        now = self.clock()
        run, group, due = self._earliest()
        if due > now:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(due - now, 60.0)):  # not wait_for: see aio.py
                    await self._wake.wait()
            return
        if not self.outbox.has_room():  # stop_polling policy and the outbox is full
            self.metrics.polling_paused.set(1)
            await asyncio.sleep(1.0)
            return
        self.metrics.polling_paused.set(0)
        assert group is not None
        try:
            if self.config.overload.enabled and run.retry_at <= run.due[group.name]:
                await self._pace(group, now - run.due[group.name], now)
            await self._poll(run, group)
        except StorageError:  # the disk is full (logged once): not recorded, so not done
            await asyncio.sleep(1.0)  # the poll is taken again then
            return
        await self._gap()

    async def _pace(self, group: PollGroup, late: float, now: float) -> None:
        """Overload control: observe this poll's lateness; once a cycle, stretch or shrink."""
        pace = self.paces[group.name]
        pace.observe(late)
        if not pace.decide(now, self.lag()):
            return
        self._show(group.name)
        if pace.report():
            period, every = pace.period_s, pace.every_s
            if pace.stretch > 1.0:
                log.warning("bus %s, group %s: overloaded, polled every %.3g s instead of %g s",
                            self.bus.name, group.name, period, every)  # fmt: skip
                text = f"overload: group {group.name} polled every {period:.3g} s, not {every:g} s"
            else:
                log.info("bus %s, group %s: polled every %g s again",
                         self.bus.name, group.name, every)  # fmt: skip
                text = f"group {group.name} polled every {every:g} s again"
            events = [
                MeterEvent(meter=r.meter.id, ts=now_ms(), kind=EventKind.POLL_STRETCHED,
                           value=round(period * 1000), text=text, group=group.name)
                for r in self.meters.values()
                if any(g.name == group.name for g in r.groups)
            ]  # fmt: skip
            await self.outbox.put_events(events)

    def _show(self, group: str) -> None:
        pace = self.paces[group]
        self.metrics.poll_stretch.labels(self.bus.name, group).set(pace.stretch)
        self.metrics.poll_period.labels(self.bus.name, group).set(pace.period_s)

    def _earliest(self) -> tuple[MeterRun, PollGroup | None, float]:
        best: tuple[MeterRun, PollGroup | None, float] | None = None
        for run in self.meters.values():
            for group in run.groups:
                due = max(run.due[group.name], run.retry_at)
                if best is None or due < best[2]:
                    best = (run, group, due)
        assert best is not None
        return best

    async def _gap(self) -> None:
        if self.bus.inter_frame_gap_ms:
            await asyncio.sleep(self.bus.inter_frame_gap_ms / 1000)

    async def _poll(self, run: MeterRun, group: PollGroup) -> None:
        meter = run.meter
        started = self.clock()
        try:
            values = await self.driver.poll(meter, group)
        except MeterError as exc:
            self.metrics.polls.labels(meter.id, "failed").inc()
            if isinstance(exc, MeterTimeout):
                await self._silent(run, exc)
            else:  # it answered, so it is online; the error is logged once per change
                await self._answered(run, str(exc))
                self._advance(run, group, started)
            return
        await self.outbox.put_readings(values)  # the poll is done only when this commits
        self.metrics.polls.labels(meter.id, "ok").inc()
        self._advance(run, group, started)
        await self._answered(run, None)
        await self._housekeeping(run)

    def _advance(self, run: MeterRun, group: PollGroup, started: float) -> None:
        """Schedule the group's next poll one interval after this one was *due*, not after it
        started: a poll that starts 20 ms late (a busy loop, a slow neighbour on the bus) must
        not push every later poll 20 ms back — that drift alone loses one poll in fifty at 1 s.
        A poll that ran past the next slot is followed at once (one catch-up); one that
        *started* a whole interval late (an outage) skips to the next slot: never a burst."""
        stretch = self.paces[group.name].stretch
        due = next_due(group, run.due[group.name], self.tz, stretch)
        run.due[group.name] = due if due > started else next_due(group, started, self.tz, stretch)

    async def _silent(self, run: MeterRun, exc: MeterError) -> None:
        run.failures += 1
        if run.silent_since_ms is None:
            run.silent_since_ms = now_ms()
        delay = min(self.bus.backoff_max_s, run.shortest * 2 ** (run.failures - 1))
        run.retry_at = self.clock() + delay
        meter = run.meter
        if run.failures >= self.bus.offline_after and self.states.online(meter.id) is not False:
            log.warning("meter %s offline after %d silent polls: %s", meter.id, run.failures, exc)
            await self._event(meter.id, EventKind.OFFLINE, text=str(exc)[:500])
            await self.states.set_online(meter.id, False)
            self.metrics.meter_online.labels(meter.id).set(0)
            run.needs_backfill = True
            run.offline_from_ms = run.silent_since_ms
            await self._bus_dark()
        else:
            log.debug("meter %s silent (%d): %s", meter.id, run.failures, exc)

    async def _bus_dark(self) -> None:
        """Every meter on the bus silent at once is a loss of supply, not a set of faults:
        each gets a power-failure event from when it first stopped answering (掉电). One
        meter alone silent is a link fault as far as anyone can tell, so a bus of one meter
        never reports this; the meter's own power-down record does (the DL/T 645 driver)."""
        runs = list(self.meters.values())
        if len(runs) < 2 or any(self.states.online(r.meter.id) is not False for r in runs):
            return
        for r in runs:
            if not r.dark:
                r.dark = True
                log.warning("meter %s: the whole bus is silent: supply lost", r.meter.id)
                await self._event(r.meter.id, EventKind.POWER_FAILURE, text="bus_silent",
                                  ts=r.silent_since_ms)  # fmt: skip

    async def _answered(self, run: MeterRun, error: str | None) -> None:
        meter = run.meter
        run.failures, run.retry_at, run.silent_since_ms = 0, 0.0, None
        self.metrics.meter_online.labels(meter.id).set(1)
        if run.dark:
            run.dark = False
            await self._event(meter.id, EventKind.POWER_RESTORED)
        if self.states.online(meter.id) is False:
            log.info("meter %s is back online", meter.id)
            await self._event(meter.id, EventKind.ONLINE)
        if self.states.online(meter.id) is not True:
            await self.states.set_online(meter.id, True)
        if self.states.note_error(meter.id, error):
            if error:
                log.warning("meter %s: %s", meter.id, error)
            else:
                log.info("meter %s: answering normally again", meter.id)

    async def _housekeeping(self, run: MeterRun) -> None:
        """After a good poll: gap filling once after an outage, the clock check when due."""
        meter = run.meter
        if run.fresh:  # the agent was away (its will told the backend): a cut may have ended
            run.fresh = False  # meanwhile, which only the meter's own record can tell
            if run.offline_from_ms is None:
                run.offline_from_ms = self.states.last_ok(meter.id)
        if run.offline_from_ms is not None:
            silent_since, run.offline_from_ms = run.offline_from_ms, None
            await self._power_record(meter, silent_since)
        if run.needs_backfill:
            run.needs_backfill = False
            since = self.states.last_ok(meter.id)
            if since is not None:
                await self._backfill(meter, since)
        self.states.ok(meter.id, now_ms())
        if self.clock() >= run.next_clock_check:
            run.next_clock_check = self.clock() + meter.clock_check_s
            await self._check_clock(meter)

    async def _power_record(self, meter: Meter, silent_since: int) -> None:
        """Back after a silence: the meter's own power-down record, when it tells of a cut
        that began around this silence (not an old one), as power_failure / power_restored
        events at the meter's own times (text ``meter_record``). The backend matches them with
        what bus silence reported; a lone meter's cut, which silence cannot tell from a link
        fault, is known from this alone."""
        try:
            record = await self.driver.last_power_down(meter)
        except MeterError as exc:
            log.debug("meter %s: power-down record unreadable: %s", meter.id, exc)
            return
        if record is None:
            return
        start, end = record
        if start < silent_since - POWER_RECORD_SLACK_MS or end is None:
            return  # an older cut, or one still open as the meter sees it
        await self._event(meter.id, EventKind.POWER_FAILURE, text="meter_record", ts=start)
        await self._event(meter.id, EventKind.POWER_RESTORED, text="meter_record", ts=end)

    async def _backfill(self, meter: Meter, since: int) -> None:
        try:
            values = await self.driver.backfill(meter, since)
        except MeterError as exc:
            log.warning("meter %s: gap filling failed: %s", meter.id, exc)
            return
        if values:
            log.info("meter %s: backfilled %d frozen values", meter.id, len(values))
            await self.outbox.put_readings(values)

    async def _check_clock(self, meter: Meter) -> None:
        try:
            drift = await self.driver.clock_drift_ms(meter)
        except MeterError as exc:
            log.debug("meter %s: clock unreadable: %s", meter.id, exc)
            return
        if drift is None or abs(drift) <= self.config.clock_drift_limit_s * 1000:
            return
        log.warning("meter %s clock off by %d ms; broadcasting the time", meter.id, drift)
        await self._event(meter.id, EventKind.CLOCK_DRIFT, value=drift)
        try:
            await self.driver.time_sync(meter)
            self.metrics.clock_corrections.labels(self.bus.name).inc()
        except MeterError as exc:
            log.warning("meter %s: time sync failed: %s", meter.id, exc)

    async def _event(
        self, meter: str, kind: EventKind, *, value: int | None = None, text: str | None = None,
        ts: int | None = None,
    ) -> None:  # fmt: skip
        event = MeterEvent(meter=meter, ts=ts or now_ms(), kind=kind, value=value, text=text)
        await self.outbox.put_events([event])

    async def poll_now(self, meter_id: str) -> int:
        """read_now: every group of the meter, now (call from a bus job). Returns values read."""
        run = self.meters[meter_id]
        count = 0
        for group in run.groups:
            values = await self.driver.poll(run.meter, group)
            await self.outbox.put_readings(values)
            count += len(values)
        return count
