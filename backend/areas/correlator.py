"""Outages found from the meters (停电研判). The agent reports a meter's power failure and
restoration as events (``EventKind.POWER_FAILURE`` / ``POWER_RESTORED``, stored in
``meter_events`` by ingestion); this reads them in arrival order and keeps one outage per area:

* a meter's power failure opens its area's outage if none is open, or joins the open one: two
  hundred meters going dark together are one area outage, not two hundred faults;
* an outage that starts inside a planned notice's window for the area is that planned outage;
* each affected customer is told once that their supply is off, and once that it is back;
* a meter's restoration closes its part; the last one closes the outage.

The read position moves by compare-and-set in the same transaction as the outages, so two
processes never both apply an event, and an event is applied exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.areas.figures import OutageCause
from backend.areas.membership import area_of
from backend.areas.models import (
    AreaOutage,
    AreaSupply,
    OutageCursor,
    OutageCustomerNotice,
    OutageMeter,
    OutageNoticeKind,
)
from backend.field.grids.models import TransformerArea
from backend.metering.models import Meter, MeterEvent
from backend.servicedesk.models import OutageKind, OutageNotice
from backend.texts import TextCode
from backend.types import from_epoch_ms
from protocols.contract.messages import EventKind

BATCH = 5_000


class OutageText(TextCode):
    OFF = "notice.area.outage_off"  # {area, off_at}
    OFF_PLANNED = "notice.area.outage_off_planned"  # {area, off_at, until_at}
    ON = "notice.area.outage_on"  # {area, on_at}


async def correlate(session: AsyncSession, tz: ZoneInfo) -> int:
    """Apply the power events that arrived since the last call; returns how many. Commits."""
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
                select(MeterEvent.id, MeterEvent.meter_pk, MeterEvent.ts, MeterEvent.kind)
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
        for _id, meter_pk, ts, kind in sorted(rows, key=lambda r: (r[2], r[0])):
            if kind == EventKind.POWER_FAILURE:
                await _power_off(session, meter_pk, ts, tz)
            else:
                await _power_on(session, meter_pk, ts)
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


async def _power_off(session: AsyncSession, meter_pk: int, ts: int, tz: ZoneInfo) -> None:
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
        outage = await _open(session, area_id, ts)
    part = await session.get(OutageMeter, (outage.id, meter_pk))
    customer = await session.scalar(select(Meter.customer_id).where(Meter.id == meter_pk))
    if part is None:
        session.add(
            OutageMeter(outage_id=outage.id, meter_pk=meter_pk, customer_id=customer, off_at=ts)
        )
        outage.meters += 1
    elif part.on_at is not None and ts >= part.on_at:
        part.on_at = None  # dark again before the outage closed
    else:
        return  # the same failure again
    if customer is not None:
        area = await session.get(TransformerArea, area_id)
        notice = await session.get(OutageNotice, outage.notice_id) if outage.notice_id else None
        if notice is not None:
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


async def _open(session: AsyncSession, area_id: int, ts: int) -> AreaOutage:
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
    return outage


async def _power_on(session: AsyncSession, meter_pk: int, ts: int) -> None:
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
    if part.customer_id is not None:
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
    await session.flush()


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
