"""Transformer areas for the back office: the network, where meters are, and the figures
(line loss, voltage quality, load, reliability) with outages found from the meters. No HTTP.
Days are local days (settings.timezone); a day ``d`` holds readings in (midnight, midnight]
like consumption (docs/consumption.md)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.areas import figures as F
from backend.areas.drill import send as send_drill
from backend.areas.membership import Members, members
from backend.areas.models import (
    AreaOutage,
    AreaSupply,
    Feeder,
    FeederOutage,
    MeterBox,
    MeterPlacement,
    OutageCustomerNotice,
    OutageMeter,
    PowerSignal,
    Substation,
)
from backend.areas.schemas import (
    AreaOut,
    FeederOutageOut,
    LoadOut,
    LoadPoint,
    LossOut,
    MeterMove,
    MeterQualityOut,
    MonthLossOut,
    MyOutage,
    OutageOut,
    PlacementOut,
    QualityOut,
    ReliabilityOut,
)
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.grids.models import TransformerArea
from backend.metering.consumption_rules import day_start_ms
from backend.metering.models import Agent, ConsumptionDaily, Meter, Reading
from backend.servicedesk.models import OutageNotice
from backend.texts import Text
from protocols.contract.messages import Quality
from protocols.contract.quantities import Quantity

MAX_DAYS = 31
MAX_MONTHS = 3
SIMULATED = ("dlt645", "dlt698")  # protocols whose simulated meters a drill can reach
VOLTAGES = (Quantity.VOLTAGE_A, Quantity.VOLTAGE_B, Quantity.VOLTAGE_C)
CURRENTS = (Quantity.CURRENT_A, Quantity.CURRENT_B, Quantity.CURRENT_C)
GOOD = (Quality.GOOD, Quality.BACKFILLED)


def _days(from_day: date, to_day: date, limit: int = MAX_DAYS) -> list[date]:
    if to_day < from_day:
        raise Invalid(E.END_BEFORE_START, "to is before from", field="to", start="from")
    n = (to_day - from_day).days + 1
    if n > limit:
        raise Invalid(E.RANGE_TOO_LONG, f"at most {limit} days", field="to", limit=limit)
    return [from_day + timedelta(days=i) for i in range(n)]


async def _area(session: AsyncSession, area_id: int) -> TransformerArea:
    area = await session.get(TransformerArea, area_id)
    if area is None:
        raise NotFound(E.AREA_NOT_FOUND, f"area {area_id} not found", area=area_id)
    return area


async def _supplies(session: AsyncSession) -> dict[int, AreaSupply]:
    return {s.transformer_area_id: s for s in await session.scalars(select(AreaSupply))}


# --- outages -----------------------------------------------------------------------------


async def _outage_views(session: AsyncSession, rows: list[AreaOutage]) -> list[OutageOut]:
    if not rows:
        return []
    ids = [o.id for o in rows]
    counts: dict[int, tuple[int, int]] = {
        oid: (off or 0, customers or 0)
        for oid, off, customers in (
            await session.execute(
                select(
                    OutageMeter.outage_id,
                    func.count().filter(OutageMeter.on_at.is_(None)),
                    func.count(func.distinct(OutageMeter.customer_id)),
                )
                .where(OutageMeter.outage_id.in_(ids))
                .group_by(OutageMeter.outage_id)
            )
        ).all()
    }
    sources: dict[int, list[str]] = {}
    for oid, source in (
        await session.execute(
            select(OutageMeter.outage_id, OutageMeter.source)
            .where(OutageMeter.outage_id.in_(ids))
            .group_by(OutageMeter.outage_id, OutageMeter.source)
            .order_by(OutageMeter.outage_id, OutageMeter.source)
        )
    ).all():
        sources.setdefault(oid, []).append(str(source))
    feeder_orders = dict(
        (
            await session.execute(
                select(FeederOutage.id, FeederOutage.work_order_id).where(
                    FeederOutage.id.in_({o.feeder_outage_id for o in rows} - {None})
                )
            )
        ).all()
    )
    areas = {
        a.id: a
        for a in await session.scalars(
            select(TransformerArea).where(
                TransformerArea.id.in_({o.transformer_area_id for o in rows})
            )
        )
    }
    return [
        OutageOut(
            id=o.id,
            transformer_area_id=o.transformer_area_id,
            area_code=areas[o.transformer_area_id].code,
            area_name=areas[o.transformer_area_id].name,
            feeder_id=o.feeder_id,
            cause=o.cause,
            started_at=o.started_at,
            ended_at=o.ended_at,
            meters=o.meters,
            meters_off=counts.get(o.id, (0, 0))[0],
            customers=counts.get(o.id, (0, 0))[1],
            notice_id=o.notice_id,
            feeder_outage_id=o.feeder_outage_id,
            work_order_id=o.work_order_id or feeder_orders.get(o.feeder_outage_id or 0),
            fault_notice_id=o.fault_notice_id,
            sources=sources.get(o.id, []),
            suspected=sources.get(o.id) == [PowerSignal.LAST_WILL.value],
        )
        for o in rows
    ]


async def list_feeder_outages(
    session: AsyncSession, *, open_only: bool, limit: int
) -> list[FeederOutageOut]:
    """Feeder outages, newest first, each with the area outages it joined."""
    stmt = (
        select(FeederOutage, Feeder)
        .join(Feeder, Feeder.id == FeederOutage.feeder_id)
        .order_by(FeederOutage.started_at.desc(), FeederOutage.id.desc())
    )
    if open_only:
        stmt = stmt.where(FeederOutage.ended_at.is_(None))
    rows = (await session.execute(stmt.limit(limit))).all()
    members = list(
        await session.scalars(
            select(AreaOutage)
            .where(AreaOutage.feeder_outage_id.in_([fo.id for fo, _ in rows]))
            .order_by(AreaOutage.started_at, AreaOutage.id)
        )
    )
    views = await _outage_views(session, members)
    return [
        FeederOutageOut(
            id=fo.id,
            feeder_id=fo.feeder_id,
            feeder_code=feeder.code,
            feeder_name=feeder.name,
            started_at=fo.started_at,
            ended_at=fo.ended_at,
            areas=[v for v in views if v.feeder_outage_id == fo.id],
            work_order_id=fo.work_order_id,
        )
        for fo, feeder in rows
    ]


async def list_outages(
    session: AsyncSession, *, area_id: int | None, open_only: bool, limit: int
) -> list[OutageOut]:
    stmt = select(AreaOutage).order_by(AreaOutage.started_at.desc(), AreaOutage.id.desc())
    if area_id is not None:
        stmt = stmt.where(AreaOutage.transformer_area_id == area_id)
    if open_only:
        stmt = stmt.where(AreaOutage.ended_at.is_(None))
    return await _outage_views(session, list(await session.scalars(stmt.limit(limit))))


async def my_outages(session: AsyncSession, customer_id: int, limit: int = 20) -> list[MyOutage]:
    """The outages that cut this customer's meters, newest first, with what they were told."""
    rows = (
        await session.execute(
            select(
                AreaOutage,
                TransformerArea.name,
                func.min(OutageMeter.off_at),
                func.max(OutageMeter.on_at),
                func.count().filter(OutageMeter.on_at.is_(None)),
            )
            .join(OutageMeter, OutageMeter.outage_id == AreaOutage.id)
            .join(TransformerArea, TransformerArea.id == AreaOutage.transformer_area_id)
            # a part suspected from an agent's last will alone is not shown: nothing seen yet
            .where(
                OutageMeter.customer_id == customer_id,
                OutageMeter.source != PowerSignal.LAST_WILL,
            )
            .group_by(AreaOutage.id, TransformerArea.name)
            .order_by(AreaOutage.started_at.desc())
            .limit(limit)
        )
    ).all()
    out: list[MyOutage] = []
    for outage, area_name, off, on, still_off in rows:
        notices = await session.scalars(
            select(OutageCustomerNotice)
            .where(
                OutageCustomerNotice.outage_id == outage.id,
                OutageCustomerNotice.customer_id == customer_id,
            )
            .order_by(OutageCustomerNotice.id)
        )
        until = None
        # the planned notice's end, or the fault notice's estimate (until a crew says better)
        notice_id = outage.notice_id or outage.fault_notice_id
        if notice_id is not None:
            notice = await session.get(OutageNotice, notice_id)
            if notice is not None:
                until = int(notice.expected_end_at.timestamp() * 1000)
        out.append(
            MyOutage(
                outage_id=outage.id,
                area_name=area_name,
                cause=outage.cause,
                off_at=off,
                on_at=None if still_off else on,
                expected_end_at=until,
                notices=[Text(n.code, dict(n.params)) for n in notices],
            )
        )
    return out


# --- the network -------------------------------------------------------------------------


async def list_areas(session: AsyncSession, today: date, tz: ZoneInfo) -> list[AreaOut]:
    """Every area with its supply, meters, open outage and yesterday's loss."""
    areas = list(await session.scalars(select(TransformerArea).order_by(TransformerArea.code)))
    supplies = await _supplies(session)
    feeders = {f.id: f for f in await session.scalars(select(Feeder))}
    stations = {s.id: s.code for s in await session.scalars(select(Substation))}
    totals = dict(
        (
            await session.execute(
                select(Meter.id, Meter.meter_id).where(
                    Meter.id.in_([s.total_meter_pk for s in supplies.values() if s.total_meter_pk])
                )
            )
        ).all()
    )
    mem = await members(session, today)
    open_outages = {
        o.transformer_area_id: o
        for o in await list_outages(session, area_id=None, open_only=True, limit=10_000)
    }
    unknown = set(  # an agent that vanished says nothing of its meters' supply
        await session.scalars(
            select(Meter.id).join(Agent, Agent.id == Meter.agent_id).where(Agent.online.is_(False))
        )
    )
    yesterday = today - timedelta(days=1)
    losses = {x.transformer_area_id: x for x in await line_loss(session, yesterday, yesterday)}
    out = []
    for a in areas:
        s = supplies.get(a.id)
        f = feeders.get(s.feeder_id) if s and s.feeder_id else None
        out.append(
            AreaOut(
                id=a.id,
                code=a.code,
                name=a.name,
                feeder_code=f.code if f else None,
                substation_code=stations.get(f.substation_id) if f and f.substation_id else None,
                rated_kva=s.rated_kva if s else 0,
                total_meter_id=totals.get(s.total_meter_pk) if s and s.total_meter_pk else None,
                ct_ratio=s.ct_ratio if s else 1,
                pt_ratio=s.pt_ratio if s else 1,
                meters=len(mem.get(a.id, [])),
                outage=open_outages.get(a.id),
                loss=losses.get(a.id),
                unknown_meters=len(unknown.intersection(mem.get(a.id, []))),
            )
        )
    return out


async def move_meter(session: AsyncSession, meter_pk: int, body: MeterMove) -> list[PlacementOut]:
    """Place a meter in an area from a day on: the open placement ends that day. The same
    move twice is one move; a move dated before the open placement began is refused."""
    meter = await session.get(Meter, meter_pk)
    if meter is None:
        raise NotFound(E.METER_NOT_FOUND, f"meter {meter_pk} not found", meter=meter_pk)
    await _area(session, body.transformer_area_id)
    if body.meter_box_id is not None:
        box = await session.get(MeterBox, body.meter_box_id)
        if box is None or box.transformer_area_id != body.transformer_area_id:
            raise Invalid(
                E.AREA_NOT_FOUND,
                "the meter box is not in that area",
                field="meter_box_id",
                area=body.transformer_area_id,
            )
    current = await session.scalar(
        select(MeterPlacement)
        .where(MeterPlacement.meter_pk == meter_pk, MeterPlacement.to_day.is_(None))
        .with_for_update()
    )
    if current is not None:
        same = (current.transformer_area_id, current.meter_box_id, current.from_day)
        if same == (body.transformer_area_id, body.meter_box_id, body.from_day):
            return await placements(session, meter_pk)
        if body.from_day <= current.from_day:
            raise Conflict(
                E.PLACEMENT_BEFORE_LAST,
                "a move must come after the last one",
                field="from_day",
                since=current.from_day.isoformat(),
            )
        current.to_day = body.from_day
    else:  # the first move: where it was until now (its customer's area) becomes history
        home = await session.scalar(
            select(Customer.transformer_area_id).where(Customer.id == meter.customer_id)
        )
        since = meter.installed_on or meter.created_at.date()
        if home is not None and since < body.from_day:
            session.add(
                MeterPlacement(
                    meter_pk=meter_pk,
                    transformer_area_id=home,
                    from_day=since,
                    to_day=body.from_day,
                )
            )
    session.add(
        MeterPlacement(
            meter_pk=meter_pk,
            transformer_area_id=body.transformer_area_id,
            meter_box_id=body.meter_box_id,
            from_day=body.from_day,
        )
    )
    await session.commit()
    return await placements(session, meter_pk)


async def placements(session: AsyncSession, meter_pk: int) -> list[PlacementOut]:
    rows = (
        await session.execute(
            select(MeterPlacement, TransformerArea.code)
            .join(TransformerArea, TransformerArea.id == MeterPlacement.transformer_area_id)
            .where(MeterPlacement.meter_pk == meter_pk)
            .order_by(MeterPlacement.from_day)
        )
    ).all()
    return [
        PlacementOut(p.transformer_area_id, code, p.meter_box_id, p.from_day, p.to_day)
        for p, code in rows
    ]


# --- line loss ---------------------------------------------------------------------------


async def line_loss(
    session: AsyncSession,
    from_day: date,
    to_day: date,
    area_id: int | None = None,
    limit: int = MAX_DAYS,
) -> list[LossOut]:
    """线损 per area and day (figures.line_loss) from the materialised daily consumption."""
    days = _days(from_day, to_day, limit)
    if area_id is not None:
        await _area(session, area_id)
    supplies = await _supplies(session)
    codes = dict((await session.execute(select(TransformerArea.id, TransformerArea.code))).all())
    out: list[LossOut] = []
    for day in days:
        mem = await members(session, day, None if area_id is None else [area_id])
        wh: dict[int, int] = dict(
            (
                await session.execute(
                    select(ConsumptionDaily.meter_pk, ConsumptionDaily.wh).where(
                        ConsumptionDaily.day == day,
                        ConsumptionDaily.quantity == Quantity.ENERGY_IMPORT,
                    )
                )
            ).all()
        )
        for area in sorted(set(mem) | {a for a in supplies if area_id in (None, a)}):
            s = supplies.get(area)
            meters = mem.get(area, [])
            total = wh.get(s.total_meter_pk) if s and s.total_meter_pk else None
            got = {m: wh[m] for m in meters if m in wh}
            f = F.line_loss(total, s.ct_ratio if s else 1, s.pt_ratio if s else 1, got, len(meters))
            out.append(
                LossOut(
                    area,
                    codes.get(area, ""),
                    day,
                    f.supplied_wh,
                    f.billed_wh,
                    f.loss_wh,
                    f.rate,
                    f.expected_meters,
                    f.reporting_meters,
                    f.state,
                )
            )
    return out


async def monthly_loss(
    session: AsyncSession, from_month: date, to_month: date, area_id: int | None = None
) -> list[MonthLossOut]:
    """线损 per area and local month: the month's days added up (figures.month_loss)."""
    last = (to_month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    days = await line_loss(session, from_month, last, area_id, limit=MAX_MONTHS * 31)
    grouped: dict[tuple[int, str], list[LossOut]] = defaultdict(list)
    for d in days:
        grouped[(d.transformer_area_id, d.day.strftime("%Y-%m"))].append(d)
    out = []
    for (area, month), rows in sorted(grouped.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        m = F.month_loss([(r.supplied_wh, r.billed_wh, r.state) for r in rows])
        out.append(MonthLossOut(area, rows[0].area_code, month, m.supplied_wh, m.billed_wh,
                                m.loss_wh, m.rate, m.days, m.complete_days, m.state))  # fmt: skip
    return out


# --- power quality and load --------------------------------------------------------------


async def quality(
    session: AsyncSession,
    area_id: int,
    day: date,
    tz: ZoneInfo,
    three_phase: F.VoltageLimits = F.THREE_PHASE,
    single_phase: F.VoltageLimits = F.SINGLE_PHASE,
    worst: int = 5,
) -> QualityOut:
    """电压合格率 of an area's meters over one day: every voltage sample of every phase, judged
    against the limits of the meter's supply type; the worst meters first."""
    area = await _area(session, area_id)
    meters = (await members(session, day, [area_id])).get(area_id, [])
    start, end = day_start_ms(day, tz), day_start_ms(day + timedelta(days=1), tz)
    info = (
        {m.id: m for m in await session.scalars(select(Meter).where(Meter.id.in_(meters)))}
        if meters
        else {}
    )
    samples: dict[int, list[int]] = defaultdict(list)
    if meters:
        for m, v in (
            await session.execute(
                select(Reading.meter_pk, Reading.value).where(
                    Reading.meter_pk.in_(meters),
                    Reading.quantity.in_(VOLTAGES),
                    Reading.ts > start,
                    Reading.ts <= end,
                    Reading.quality.in_(GOOD),
                )
            )
        ).all():
            samples[m].append(v)
    per_meter: list[MeterQualityOut] = []
    overall = F.NO_SAMPLES
    for m, values in samples.items():
        phases = info[m].phases
        q = F.VoltageQuality.of(values, three_phase if phases == 3 else single_phase)
        overall = overall + q
        per_meter.append(
            MeterQualityOut(
                m, info[m].meter_id, phases, q.samples, q.within, q.above, q.below, q.rate
            )
        )
    per_meter.sort(key=lambda x: (x.rate if x.rate is not None else 2.0, x.meter_id))
    return QualityOut(
        area_id,
        area.code,
        day,
        overall.samples,
        overall.within,
        overall.above,
        overall.below,
        overall.rate,
        await _unbalance(session, area_id, start, end),
        per_meter[:worst],
    )


async def _unbalance(session: AsyncSession, area_id: int, start: int, end: int) -> float | None:
    """The worst three-phase current unbalance of the area's total meter over the day."""
    total = await session.scalar(
        select(AreaSupply.total_meter_pk).where(AreaSupply.transformer_area_id == area_id)
    )
    if total is None:
        return None
    by_ts: dict[int, dict[str, int]] = defaultdict(dict)
    for ts, q, v in (
        await session.execute(
            select(Reading.ts, Reading.quantity, Reading.value).where(
                Reading.meter_pk == total,
                Reading.quantity.in_(CURRENTS),
                Reading.ts > start,
                Reading.ts <= end,
            )
        )
    ).all():
        by_ts[ts][q] = v
    worst: float | None = None
    for phases in by_ts.values():
        if len(phases) == 3:
            u = F.unbalance(list(phases.values()))
            if u is not None and (worst is None or u > worst):
                worst = u
    return worst


async def load(session: AsyncSession, area_id: int, day: date, tz: ZoneInfo) -> LoadOut:
    """The area's load curve from its total meter's active power (× CT × PT), its peak and the
    peak against the transformer's rated kVA (unity power factor: kW against kVA)."""
    await _area(session, area_id)
    s = await session.get(AreaSupply, area_id)
    start, end = day_start_ms(day, tz), day_start_ms(day + timedelta(days=1), tz)
    points: list[LoadPoint] = []
    if s is not None and s.total_meter_pk is not None:
        scale = s.ct_ratio * s.pt_ratio
        points = [
            LoadPoint(ts, v * scale)
            for ts, v in (
                await session.execute(
                    select(Reading.ts, Reading.value)
                    .where(
                        Reading.meter_pk == s.total_meter_pk,
                        Reading.quantity == Quantity.ACTIVE_POWER,
                        Reading.ts > start,
                        Reading.ts <= end,
                    )
                    .order_by(Reading.ts)
                )
            ).all()
        ]
    peak = max(points, key=lambda p: p.w) if points else None
    rated = s.rated_kva if s else 0
    rate = round(peak.w / (rated * 1000), 4) if peak and rated else None
    return LoadOut(
        area_id,
        rated,
        peak.w if peak else None,
        peak.ts if peak else None,
        rate,
        rate is not None and rate > 1.0,
        points,
    )


# --- reliability -------------------------------------------------------------------------


async def reliability(
    session: AsyncSession, from_day: date, to_day: date, tz: ZoneInfo, now_ms: int
) -> list[ReliabilityOut]:
    """SAIFI, SAIDI, RS-1 and RS-3 per area and per feeder over whole local days. Customers
    served: those with a meter in the area on the first day; an open outage counts until now."""
    _days(from_day, to_day)
    start, end = day_start_ms(from_day, tz), day_start_ms(to_day + timedelta(days=1), tz)
    end = min(end, max(now_ms, start))
    mem: Members = await members(session, from_day)
    cust_of = dict((await session.execute(select(Meter.id, Meter.customer_id))).all())
    served: dict[int, set[int]] = {
        a: {c for m in ms if (c := cust_of.get(m)) is not None} for a, ms in mem.items()
    }
    rows = (
        await session.execute(
            select(
                AreaOutage.transformer_area_id,
                AreaOutage.cause,
                OutageMeter.customer_id,
                func.min(OutageMeter.off_at),
                func.max(func.coalesce(OutageMeter.on_at, end)),
            )
            .join(OutageMeter, OutageMeter.outage_id == AreaOutage.id)
            .where(
                OutageMeter.customer_id.is_not(None),
                AreaOutage.started_at < end,
                func.coalesce(AreaOutage.ended_at, end) > start,
            )
            .group_by(
                AreaOutage.id,
                AreaOutage.transformer_area_id,
                AreaOutage.cause,
                OutageMeter.customer_id,
            )
        )
    ).all()
    per_area: dict[int, list[F.Interruption]] = defaultdict(list)
    for area, cause, customer, off, on in rows:
        assert customer is not None
        per_area[area].append(F.Interruption(customer, off, on, cause))
    supplies = await _supplies(session)
    codes = dict((await session.execute(select(TransformerArea.id, TransformerArea.code))).all())
    feeders = dict((await session.execute(select(Feeder.id, Feeder.code))).all())
    out: list[ReliabilityOut] = []
    by_feeder: dict[int, tuple[set[int], list[F.Interruption]]] = {}
    for area in sorted(set(served) | set(per_area)):
        r = F.reliability(len(served.get(area, ())), per_area.get(area, []), start, end)
        out.append(
            ReliabilityOut(
                "area",
                area,
                codes.get(area, ""),
                r.customers,
                r.interruptions,
                r.customer_hours,
                r.saifi,
                r.saidi_hours,
                r.rs1,
                r.rs3,
            )
        )
        s = supplies.get(area)
        if s is not None and s.feeder_id is not None:
            cs, its = by_feeder.setdefault(s.feeder_id, (set(), []))
            cs |= served.get(area, set())
            its += per_area.get(area, [])
    for feeder, (cs, its) in sorted(by_feeder.items()):
        r = F.reliability(len(cs), its, start, end)
        out.append(
            ReliabilityOut(
                "feeder",
                feeder,
                feeders.get(feeder, ""),
                r.customers,
                r.interruptions,
                r.customer_hours,
                r.saifi,
                r.saidi_hours,
                r.rs1,
                r.rs3,
            )
        )
    return out


async def drill(
    session: AsyncSession, area_id: int, restore: bool, control: str, today: date
) -> int:
    """Cut (or restore) the supply of an area's simulated meters (DL/T 645 and DL/T 698.45:
    their addresses are unique across the simulators). Only where a control port is set."""
    if not control:
        raise Conflict(E.DRILL_UNAVAILABLE, "no simulator control port is configured")
    await _area(session, area_id)
    meters = (await members(session, today, [area_id])).get(area_id, [])
    supply = await session.get(AreaSupply, area_id)
    if supply is not None and supply.total_meter_pk is not None:
        meters.append(supply.total_meter_pk)
    addresses = sorted(
        await session.scalars(
            select(Meter.address).where(
                Meter.id.in_(meters), Meter.protocol.in_(SIMULATED), Meter.address != ""
            )
        )
    )
    return await send_drill(control, addresses, restore)


async def customers_of(session: AsyncSession, area_id: int, day: date) -> list[int]:
    meters = (await members(session, day, [area_id])).get(area_id, [])
    return sorted(
        set(
            await session.scalars(
                select(Customer.id)
                .join(Meter, Meter.customer_id == Customer.id)
                .where(Meter.id.in_(meters))
            )
        )
    )
