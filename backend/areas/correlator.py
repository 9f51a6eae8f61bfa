"""Outages found from the meters (停电研判). The agent reports a meter's power failure and
restoration as events (``EventKind.POWER_FAILURE`` / ``POWER_RESTORED``, stored in
``meter_events`` by ingestion); this reads them in arrival order and keeps one outage per area:

* a meter's power failure opens its area's outage if none is open, or joins the open one: two
  hundred meters going dark together are one area outage, not two hundred faults;
* an outage that starts inside a planned notice's window for the area is that planned outage;
* each affected customer is told once that their supply is off, and once that it is back;
* a meter's restoration closes its part; the last one closes the outage;
* a meter's own power-down record (source ``meter_record``) read after it came back refines the
  part bus silence already reported (the meter's clock is the truth) instead of counting again;
* an unplanned outage opens a fault notice for the area (so 95598 calls from it link to the
  outage instead of sending a crew again) and one service-desk fault work order, both closed
  when power is back;
* areas of one feeder going dark within ``FEEDER_WINDOW_MS`` of each other join one feeder
  outage, with one fault work order (the first unplanned area's; the later areas join it), closed
  when the last area is back;
* an agent's last will (``backend.areas.wills``) joins its meters to an outage as suspected
  parts (source ``last_will``) only with other evidence; such parts tell no customer.

The read position moves by compare-and-set in the same transaction as the outages, so two
processes never both apply an event, and an event is applied exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.areas.faults import closed, open_fault
from backend.areas.figures import OutageCause
from backend.areas.membership import area_of
from backend.areas.models import (
    AreaOutage,
    AreaSupply,
    FeederOutage,
    OutageCursor,
    OutageCustomerNotice,
    OutageMeter,
    OutageNoticeKind,
    PowerSignal,
)
from backend.field.grids.models import TransformerArea
from backend.metering.models import Meter, MeterEvent
from backend.servicedesk.models import OutageKind, OutageNotice
from backend.servicedesk.workflow.service import WorkingTime
from backend.texts import TextCode
from backend.types import from_epoch_ms
from protocols.contract.messages import EventKind

BATCH = 5_000
FEEDER_WINDOW_MS = 5 * 60_000  # areas of one feeder dark within this of each other: one outage
RECORD_WINDOW_MS = 15 * 60_000  # a meter's own record this close to a reported part refines it


class OutageText(TextCode):
    OFF = "notice.area.outage_off"  # {area, off_at}
    OFF_PLANNED = "notice.area.outage_off_planned"  # {area, off_at, until_at}
    ON = "notice.area.outage_on"  # {area, on_at}


async def correlate(session: AsyncSession, tz: ZoneInfo, wt: WorkingTime, now_ms: int) -> int:
    """Apply the power events that arrived since the last call; returns how many. Commits.
    ``wt`` and ``now_ms`` date the work orders opened for outages."""
    applied = 0
    while True:
        cursor = await session.get(OutageCursor, 1)
        if cursor is None:
            try:
                async with session.begin_nested():
                    session.add(OutageCursor(id=1, last_event_id=0))
            except IntegrityError:
                pass
            cursor = await session.get(OutageCursor, 1)
            assert cursor is not None
        start = cursor.last_event_id
        rows = (
            await session.execute(
                select(
                    MeterEvent.id,
                    MeterEvent.meter_pk,
                    MeterEvent.ts,
                    MeterEvent.kind,
                    MeterEvent.text,
                )
                .where(
                    MeterEvent.id > start,
                    MeterEvent.kind.in_([EventKind.POWER_FAILURE, EventKind.POWER_RESTORED]),
                )
                .order_by(MeterEvent.id)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            await session.rollback()
            return applied
        # within one batch, in the meters' own time order (a restore never before its failure)
        now = from_epoch_ms(now_ms)
        for _id, meter_pk, ts, kind, text in sorted(rows, key=lambda r: (r[2], r[0])):
            source = _signal(text)
            if kind == EventKind.POWER_FAILURE:
                await power_off(session, meter_pk, ts, source, tz, wt, now)
            else:
                await power_on(session, meter_pk, ts, source, wt, now)
        last = rows[-1][0]
        moved = await session.execute(
            update(OutageCursor)
            .where(OutageCursor.id == 1, OutageCursor.last_event_id == start)
            .values(last_event_id=last)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            await session.rollback()  # another process applied them first
            continue
        await session.commit()
        applied += len(rows)


def _signal(text: str | None) -> PowerSignal:
    try:
        return PowerSignal(text or PowerSignal.BUS_SILENT)
    except ValueError:
        return PowerSignal.BUS_SILENT


async def _near_part(
    session: AsyncSession, meter_pk: int, ts: int, *, restored: bool
) -> OutageMeter | None:
    """The meter's part whose start lies within RECORD_WINDOW_MS of ``ts`` (or, when
    ``restored``, whose end lies no more than that before ``ts`` or anywhere after it): what
    another signal already reported of the same failure."""
    col = OutageMeter.on_at if restored else OutageMeter.off_at
    # a restoration may also lie well before the reported end: the meter came back while its
    # agent was away (a last will's part ends when the meters report again)
    late = [] if restored else [col <= ts + RECORD_WINDOW_MS]
    return await session.scalar(
        select(OutageMeter)
        .where(OutageMeter.meter_pk == meter_pk, col >= ts - RECORD_WINDOW_MS, *late)
        .order_by(col.desc())
        .limit(1)
    )


async def _refined_start(session: AsyncSession, meter_pk: int, ts: int) -> bool:
    """A meter's own record of a failure already reported: the part (and its outage and
    feeder outage) start at the meter's time. False if it matches no part."""
    known = await _near_part(session, meter_pk, ts, restored=False)
    if known is None:
        return False
    known.source = PowerSignal.METER_RECORD
    if ts < known.off_at:
        known.off_at = ts
        outage = await session.get(AreaOutage, known.outage_id)
        assert outage is not None
        outage.started_at = min(outage.started_at, ts)
        if outage.feeder_outage_id is not None:
            feeder = await session.get(FeederOutage, outage.feeder_outage_id)
            assert feeder is not None
            feeder.started_at = min(feeder.started_at, ts)
    await session.flush()
    return True


async def power_off(
    session: AsyncSession, meter_pk: int, ts: int, source: PowerSignal, tz: ZoneInfo,
    wt: WorkingTime, now: datetime,
) -> None:  # fmt: skip
    if source is PowerSignal.METER_RECORD and await _refined_start(session, meter_pk, ts):
        return
    day = datetime.fromtimestamp(ts / 1000, tz).date()
    area_id = await area_of(session, meter_pk, day)
    if area_id is None:
        return
    outage = await session.scalar(
        select(AreaOutage).where(
            AreaOutage.transformer_area_id == area_id, AreaOutage.ended_at.is_(None)
        )
    )
    if outage is None:
        outage = await _open(session, area_id, ts, wt, now)
    part = await session.get(OutageMeter, (outage.id, meter_pk))
    customer = await session.scalar(select(Meter.customer_id).where(Meter.id == meter_pk))
    if part is None:
        session.add(
            OutageMeter(
                outage_id=outage.id,
                meter_pk=meter_pk,
                customer_id=customer,
                off_at=ts,
                source=source,
            )
        )
        outage.meters += 1
    elif part.on_at is not None and ts >= part.on_at:
        part.on_at = None  # dark again before the outage closed
    elif part.source is PowerSignal.LAST_WILL and source is not PowerSignal.LAST_WILL:
        part.source = source  # suspected from the agent's will, now seen: tell the customer
    else:
        return  # the same failure again
    if customer is not None and source is not PowerSignal.LAST_WILL:  # a suspicion tells no one
        area = await session.get(TransformerArea, area_id)
        notice = await session.get(OutageNotice, outage.notice_id) if outage.notice_id else None
        if notice is not None and notice.kind is OutageKind.PLANNED:
            code, params = (
                OutageText.OFF_PLANNED,
                {
                    "area": area.name if area else "",
                    "off_at": ts,
                    "until_at": int(notice.expected_end_at.timestamp() * 1000),
                },
            )
        else:
            code, params = OutageText.OFF, {"area": area.name if area else "", "off_at": ts}
        await _tell(session, outage.id, customer, OutageNoticeKind.OFF, code, params, ts)
    await session.flush()


async def _open(
    session: AsyncSession, area_id: int, ts: int, wt: WorkingTime, now: datetime
) -> AreaOutage:
    at = from_epoch_ms(ts)
    planned = await session.scalar(
        select(OutageNotice.id)
        .where(
            OutageNotice.transformer_area_id == area_id,
            OutageNotice.kind == OutageKind.PLANNED,
            OutageNotice.cancelled.is_(False),
            OutageNotice.starts_at <= at,
            OutageNotice.expected_end_at >= at,
        )
        .order_by(OutageNotice.starts_at)
        .limit(1)
    )
    feeder = await session.scalar(
        select(AreaSupply.feeder_id).where(AreaSupply.transformer_area_id == area_id)
    )
    outage = AreaOutage(
        transformer_area_id=area_id,
        feeder_id=feeder,
        started_at=ts,
        meters=0,
        cause=OutageCause.PLANNED if planned is not None else OutageCause.UNPLANNED,
        notice_id=planned,
    )
    session.add(outage)
    await session.flush()
    if feeder is not None:
        await _join_feeder(session, outage, feeder)
    if planned is None:
        await open_fault(session, outage, wt, now)
    return outage


async def _join_feeder(session: AsyncSession, outage: AreaOutage, feeder_id: int) -> None:
    """Join an open feeder outage that started within the window, or make one with another
    area of the feeder that went dark within it: one fault on the 10 kV line, not several."""
    ts = outage.started_at
    near = (FeederOutage.started_at >= ts - FEEDER_WINDOW_MS,
            FeederOutage.started_at <= ts + FEEDER_WINDOW_MS)  # fmt: skip
    feeder_outage = await session.scalar(
        select(FeederOutage)
        .where(FeederOutage.feeder_id == feeder_id, FeederOutage.ended_at.is_(None), *near)
        .order_by(FeederOutage.started_at.desc())
        .limit(1)
    )
    if feeder_outage is None:
        other = await session.scalar(
            select(AreaOutage)
            .where(
                AreaOutage.feeder_id == feeder_id,
                AreaOutage.id != outage.id,
                AreaOutage.feeder_outage_id.is_(None),
                AreaOutage.ended_at.is_(None),
                AreaOutage.started_at >= ts - FEEDER_WINDOW_MS,
                AreaOutage.started_at <= ts + FEEDER_WINDOW_MS,
            )
            .order_by(AreaOutage.started_at)
            .limit(1)
        )
        if other is None:
            return
        feeder_outage = FeederOutage(
            feeder_id=feeder_id, started_at=min(other.started_at, ts), areas=1
        )
        feeder_outage.work_order_id = other.work_order_id  # its crew now goes to the feeder
        session.add(feeder_outage)
        await session.flush()
        other.feeder_outage_id = feeder_outage.id
    feeder_outage.areas += 1
    feeder_outage.started_at = min(feeder_outage.started_at, ts)
    outage.feeder_outage_id = feeder_outage.id


async def power_on(
    session: AsyncSession, meter_pk: int, ts: int, source: PowerSignal, wt: WorkingTime,
    now: datetime,
) -> None:  # fmt: skip
    if source is PowerSignal.METER_RECORD:
        known = await _near_part(session, meter_pk, ts, restored=True)
        if known is not None and known.off_at <= ts:  # already back: the meter's own time
            known.on_at = ts
            await session.flush()
            outage = await session.get(AreaOutage, known.outage_id)
            assert outage is not None
            if outage.ended_at is not None:
                outage.ended_at = await session.scalar(
                    select(func.max(OutageMeter.on_at)).where(OutageMeter.outage_id == outage.id)
                )
                await closed(session, outage, now)
            await session.flush()
            return
    part = await session.scalar(
        select(OutageMeter)
        .join(AreaOutage, AreaOutage.id == OutageMeter.outage_id)
        .where(
            OutageMeter.meter_pk == meter_pk,
            OutageMeter.on_at.is_(None),
            OutageMeter.off_at <= ts,
            AreaOutage.ended_at.is_(None),
        )
    )
    if part is None:
        return  # a restore without a failure we know of
    part.on_at = ts
    await session.flush()
    outage = await session.get(AreaOutage, part.outage_id)
    assert outage is not None
    if part.customer_id is not None and await _told(session, outage.id, part.customer_id):
        area = await session.get(TransformerArea, outage.transformer_area_id)
        params = {"area": area.name if area else "", "on_at": ts}
        await _tell(
            session, outage.id, part.customer_id, OutageNoticeKind.ON, OutageText.ON, params, ts
        )
    still_off = await session.scalar(
        select(func.count())
        .select_from(OutageMeter)
        .where(OutageMeter.outage_id == outage.id, OutageMeter.on_at.is_(None))
    )
    if not still_off:
        outage.ended_at = await session.scalar(
            select(func.max(OutageMeter.on_at)).where(OutageMeter.outage_id == outage.id)
        )
        await closed(session, outage, now)
    await session.flush()


async def _told(session: AsyncSession, outage_id: int, customer_id: int) -> bool:
    """Whether the customer was told their supply was off in this outage (a suspected part,
    from an agent's last will alone, told them nothing: nothing to take back)."""
    told = await session.scalar(
        select(OutageCustomerNotice.id).where(
            OutageCustomerNotice.outage_id == outage_id,
            OutageCustomerNotice.customer_id == customer_id,
            OutageCustomerNotice.kind == OutageNoticeKind.OFF,
        )
    )
    return told is not None


async def _tell(
    session: AsyncSession,
    outage_id: int,
    customer_id: int,
    kind: OutageNoticeKind,
    code: OutageText,
    params: dict[str, object],
    ts: int,
) -> None:
    """One notice per outage, customer and kind: a customer with three dark meters hears once."""
    exists = await session.scalar(
        select(OutageCustomerNotice.id).where(
            OutageCustomerNotice.outage_id == outage_id,
            OutageCustomerNotice.customer_id == customer_id,
            OutageCustomerNotice.kind == kind,
        )
    )
    if exists is None:
        session.add(
            OutageCustomerNotice(
                outage_id=outage_id,
                customer_id=customer_id,
                kind=kind,
                code=code.value,
                params=dict(params),
                created_at=ts,
            )
        )


def affected_customers(parts: Sequence[OutageMeter]) -> set[int]:
    return {p.customer_id for p in parts if p.customer_id is not None}
