"""An agent's last will as an outage signal (停电研判 from the agents themselves).

When an agent vanishes (no DISCONNECT: its concentrator lost supply, its link went down), the
broker publishes its retained last will and ingestion marks the agent offline with the moment
(``agents.died_at``). Its meters' supply is then **unknown**, not failed: a dead agent is not a
dead feeder. The rule, judged by the correlator's round after the power events:

* a will is *pending* for ``WILL_WINDOW_MS`` after the death;
* if, within that window of the death, another sign of an outage touches one of the areas the
  agent's meters are in — an open area outage of that area or of an area of the same feeder
  that started within the window, or another agent with meters in that area or feeder that
  died within the window — the agent's meters of that area join (or open) the area's outage as
  *suspected* parts, source ``last_will`` (no customer is told on a suspicion; the fault order
  and the feeder outage follow as for any outage): the will is *joined*;
* a will that finds no such sign by the end of the window is *lone*: no outage, only its meters
  counted as unknown on the Areas screen and the agent offline;
* when the agent is back (a newer birth), the will is *back*; a suspected part ends when its
  meter reports again (its first reading after the part's start), and a later signal refines it:
  a bus-silence report confirms it (and tells the customer), the meter's own power-down record
  moves its start and end to the meter's clock.

Parallel rounds are serialised on the correlator's read-position row; a will is recorded once
per death (unique agent and time).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.areas.correlator import power_off, power_on
from backend.areas.membership import area_of
from backend.areas.models import (
    AgentWill,
    AreaOutage,
    AreaSupply,
    OutageCursor,
    OutageMeter,
    PowerSignal,
    WillState,
)
from backend.metering.models import MANUAL_PROTOCOL, Agent, Meter, MeterStatus, Reading
from backend.servicedesk.workflow.service import WorkingTime
from backend.types import from_epoch_ms

WILL_WINDOW_MS = 5 * 60_000  # other signs this close to a death make it part of an outage

AreaMeters = dict[int, list[int]]  # area id -> the agent's meter pks in it


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


async def judge_wills(session: AsyncSession, tz: ZoneInfo, wt: WorkingTime, now_ms: int) -> int:
    """Record new deaths, judge the pending wills, end suspected parts whose meters report
    again; returns how many wills changed state. Commits."""
    if await session.get(OutageCursor, 1) is None:  # no power event was ever read
        try:
            async with session.begin_nested():
                session.add(OutageCursor(id=1, last_event_id=0))
        except IntegrityError:
            pass  # another round made it
    # one round at a time: hold the read position's row (PostgreSQL locks it; SQLite writes
    # one transaction at a time anyway)
    await session.execute(
        update(OutageCursor)
        .where(OutageCursor.id == 1)
        .values(last_event_id=OutageCursor.last_event_id)
    )
    now = from_epoch_ms(now_ms)
    changed = await _record_deaths(session, tz, now_ms)
    pending = list(
        await session.scalars(
            select(AgentWill)
            .where(AgentWill.state == WillState.PENDING)
            .order_by(AgentWill.died_at, AgentWill.id)
        )
    )
    for will in pending:
        changed += await _judge(session, will, tz, wt, now, now_ms)
    changed += await _agents_back(session)
    await _meters_report(session, wt, now)
    await session.commit()
    return changed


async def _record_deaths(session: AsyncSession, tz: ZoneInfo, now_ms: int) -> int:
    dead = (
        await session.execute(
            select(Agent.id, Agent.died_at).where(
                Agent.online.is_(False), Agent.died_at.is_not(None)
            )
        )
    ).all()
    added = 0
    for agent_id, died in dead:
        assert died is not None
        died_ms = _ms(died)
        known = await session.scalar(
            select(AgentWill.id).where(AgentWill.agent_id == agent_id, AgentWill.died_at == died_ms)
        )
        if known is not None:
            continue
        meters = await _areas_of(session, agent_id, died_ms, tz)
        state = WillState.PENDING if now_ms - died_ms <= WILL_WINDOW_MS else WillState.LONE
        session.add(
            AgentWill(
                agent_id=agent_id,
                died_at=died_ms,
                state=state,
                meters=sum(len(m) for m in meters.values()),
            )
        )
        added += 1
    await session.flush()
    return added


async def _areas_of(session: AsyncSession, agent_id: str, at_ms: int, tz: ZoneInfo) -> AreaMeters:
    """The agent's remotely read, active meters by the area each was in at ``at_ms``."""
    day = datetime.fromtimestamp(at_ms / 1000, tz).date()
    out: AreaMeters = defaultdict(list)
    for meter_pk in await session.scalars(
        select(Meter.id)
        .where(
            Meter.agent_id == agent_id,
            Meter.status == MeterStatus.ACTIVE,
            Meter.protocol != MANUAL_PROTOCOL,
        )
        .order_by(Meter.id)
    ):
        area = await area_of(session, meter_pk, day)
        if area is not None:
            out[area].append(meter_pk)
    return out


async def _feeders(session: AsyncSession, areas: set[int]) -> dict[int, int | None]:
    rows = await session.execute(
        select(AreaSupply.transformer_area_id, AreaSupply.feeder_id).where(
            AreaSupply.transformer_area_id.in_(areas)
        )
    )
    found: dict[int, int | None] = {area: feeder for area, feeder in rows}
    return {a: found.get(a) for a in areas}


async def _judge(
    session: AsyncSession, will: AgentWill, tz: ZoneInfo, wt: WorkingTime, now: datetime,
    now_ms: int,
) -> int:  # fmt: skip
    agent = await session.get(Agent, will.agent_id)
    if agent is None or agent.online or agent.died_at is None or _ms(agent.died_at) != will.died_at:
        will.state = WillState.BACK
        will.back_at = _ms(agent.last_birth_at) if agent and agent.last_birth_at else now_ms
        return 1
    mine = await _areas_of(session, will.agent_id, will.died_at, tz)
    evident = await _evident(session, will, mine, tz)
    if evident:
        for area in sorted(evident):
            for meter_pk in mine[area]:
                await power_off(session, meter_pk, will.died_at, PowerSignal.LAST_WILL, tz, wt, now)
        will.state = WillState.JOINED
        return 1
    if now_ms - will.died_at > WILL_WINDOW_MS:
        will.state = WillState.LONE
        return 1
    return 0


async def _evident(
    session: AsyncSession, will: AgentWill, mine: AreaMeters, tz: ZoneInfo
) -> set[int]:
    """The areas of the agent's meters that another sign within the window says went dark."""
    if not mine:
        return set()
    low, high = will.died_at - WILL_WINDOW_MS, will.died_at + WILL_WINDOW_MS
    feeders = await _feeders(session, set(mine))
    dark = (
        await session.execute(
            select(AreaOutage.transformer_area_id, AreaOutage.feeder_id).where(
                AreaOutage.ended_at.is_(None),
                AreaOutage.started_at >= low,
                AreaOutage.started_at <= high,
            )
        )
    ).all()
    dark_areas = {a for a, _ in dark}
    dark_feeders = {f for _, f in dark if f is not None}
    others = await session.scalars(
        select(AgentWill).where(
            AgentWill.agent_id != will.agent_id,
            AgentWill.state.in_([WillState.PENDING, WillState.JOINED]),
            AgentWill.died_at >= low,
            AgentWill.died_at <= high,
        )
    )
    for other in others:
        theirs = await _areas_of(session, other.agent_id, other.died_at, tz)
        dark_areas |= set(theirs)
        dark_feeders |= {f for f in (await _feeders(session, set(theirs))).values() if f}
    return {
        a
        for a in mine
        if a in dark_areas or (feeders[a] is not None and feeders[a] in dark_feeders)
    }


async def _agents_back(session: AsyncSession) -> int:
    """Joined and lone wills whose agent has been born again since."""
    back = 0
    for will in await session.scalars(
        select(AgentWill).where(AgentWill.state.in_([WillState.JOINED, WillState.LONE]))
    ):
        agent = await session.get(Agent, will.agent_id)
        if agent is None or not agent.online or agent.last_birth_at is None:
            continue
        born = _ms(agent.last_birth_at)
        if born >= will.died_at:
            will.state, will.back_at = WillState.BACK, born
            back += 1
    return back


async def _meters_report(session: AsyncSession, wt: WorkingTime, now: datetime) -> None:
    """A suspected part ends at its meter's first reading after the part began: the meter had
    supply again by then (its own power-down record, when its agent reads it, refines it)."""
    parts = (
        await session.execute(
            select(OutageMeter.meter_pk, OutageMeter.off_at)
            .join(AreaOutage, AreaOutage.id == OutageMeter.outage_id)
            .where(
                OutageMeter.source == PowerSignal.LAST_WILL,
                OutageMeter.on_at.is_(None),
                AreaOutage.ended_at.is_(None),
            )
        )
    ).all()
    for meter_pk, off_at in parts:
        first = await session.scalar(
            select(func.min(Reading.ts)).where(Reading.meter_pk == meter_pk, Reading.ts > off_at)
        )
        if first is not None:
            await power_on(session, meter_pk, first, PowerSignal.LAST_WILL, wt, now)
