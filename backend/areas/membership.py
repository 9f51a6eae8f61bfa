"""Which meters were in which area on a day: a meter's placement covering the day, or, for a
meter not placed on or before that day, its customer's area. An area's total meter (台区总表)
is never one of its customers' meters."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import date

from sqlalchemy import exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.areas.models import AreaSupply, MeterPlacement
from backend.metering.models import Meter, MeterStatus

Members = dict[int, list[int]]  # area id -> meter pks


async def members(
    session: AsyncSession, day: date, area_ids: Collection[int] | None = None
) -> Members:
    """The customers' meters of each area on ``day`` (active that day)."""
    p = MeterPlacement
    # in service that day: installed by then (its installation day, or the day it was
    # registered, as the collection rate), not removed before it (a meter replaced during the
    # day counts, as its replacement does: both registered part of the day's energy)
    cols = (Meter.id, Meter.installed_on, Meter.created_at, Meter.removed_at)
    serving = (
        Meter.status.in_([MeterStatus.ACTIVE, MeterStatus.REMOVED]),
        or_(Meter.installed_on.is_(None), Meter.installed_on <= day),
        ~exists().where(AreaSupply.total_meter_pk == Meter.id),
    )
    placed = (
        select(p.transformer_area_id, *cols)
        .join(Meter, Meter.id == p.meter_pk)
        .where(p.from_day <= day, or_(p.to_day.is_(None), p.to_day > day), *serving)
    )
    unplaced = (
        select(Customer.transformer_area_id, *cols)
        .join(Customer, Customer.id == Meter.customer_id)
        .where(
            Customer.transformer_area_id.is_not(None),
            ~exists().where(p.meter_pk == Meter.id, p.from_day <= day),
            *serving,
        )
    )
    if area_ids is not None:
        placed = placed.where(p.transformer_area_id.in_(area_ids))
        unplaced = unplaced.where(Customer.transformer_area_id.in_(area_ids))
    out: Members = defaultdict(list)
    for stmt in (placed, unplaced):
        for area, meter, installed, created, removed in (await session.execute(stmt)).all():
            if area is None or (installed or created.date()) > day:
                continue
            if removed is None or removed.date() >= day:
                out[area].append(meter)
    return out


async def area_of(session: AsyncSession, meter_pk: int, day: date) -> int | None:
    """The area a meter was in on ``day``; a total meter belongs to its own area."""
    total_of = await session.scalar(
        select(AreaSupply.transformer_area_id).where(AreaSupply.total_meter_pk == meter_pk)
    )
    if total_of is not None:
        return total_of
    p = MeterPlacement
    placed = await session.scalar(
        select(p.transformer_area_id)
        .where(p.meter_pk == meter_pk, p.from_day <= day, or_(p.to_day.is_(None), p.to_day > day))
        .limit(1)
    )
    if placed is not None:
        return placed
    placed_before = select(p.id).where(p.meter_pk == meter_pk, p.from_day <= day).limit(1)
    if await session.scalar(placed_before) is not None:
        return None  # placed before, but nowhere that day
    return await session.scalar(
        select(Customer.transformer_area_id)
        .join(Meter, Meter.customer_id == Customer.id)
        .where(Meter.id == meter_pk)
    )
