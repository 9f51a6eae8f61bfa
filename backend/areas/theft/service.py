"""窃电/故障嫌疑: which meters to inspect when an area's line loss rises.

The rule (docs/areas.md): over the recent week (the 7 local days ending ``day``) against the 28
days before it,

* the area's loss rate rose by at least ``loss_rise`` (sum of energy in minus sum of the
  customers' energy, over the sum of energy in, each window over its days with a total-meter
  reading), and
* a meter of that area used on average less than ``drop_share`` of its daily mean of the 28 days
  before, which was at least ``min_baseline_wh`` (a meter that went silent counts as using
  nothing: a fault is suspected as much as a bypass).

Each such meter gets one suspicion and one meter-check field task (现场核查) for its grid's
inspector. A meter with an open task from an earlier suspicion is left alone; the same day
detected twice, or by two callers at once, is one suspicion (unique meter and day)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.areas.membership import members
from backend.areas.models import AreaSupply
from backend.areas.service import line_loss
from backend.areas.theft.models import FieldTask, FieldTaskKind, FieldTaskStatus, TheftSuspicion
from backend.areas.theft.schemas import DetectIn, DetectOut, SuspicionOut
from backend.auth.guards import Caller
from backend.auth.scope import grid_in_scope
from backend.field.grids.models import TransformerArea
from backend.metering.models import ConsumptionDaily, Meter
from protocols.contract.quantities import Quantity

RECENT_DAYS = 7
BASELINE_DAYS = 28
TASK_DUE_DAYS = 3  # the inspector's visit is due three days after the detection


def _window_rate(rows: list[tuple[int | None, int]]) -> float | None:
    supplied = sum(s for s, _ in rows if s is not None)
    billed = sum(b for s, b in rows if s is not None)
    return (supplied - billed) / supplied if supplied > 0 else None


async def _rates(session: AsyncSession, area_id: int, day: date) -> tuple[float, float] | None:
    """The area's loss rate over the baseline window and over the recent week."""
    first = day - timedelta(days=RECENT_DAYS + BASELINE_DAYS - 1)
    split = day - timedelta(days=RECENT_DAYS - 1)
    days = await line_loss(session, first, day, area_id, limit=RECENT_DAYS + BASELINE_DAYS)
    before = _window_rate([(d.supplied_wh, d.billed_wh) for d in days if d.day < split])
    after = _window_rate([(d.supplied_wh, d.billed_wh) for d in days if d.day >= split])
    return None if before is None or after is None else (before, after)


async def _daily_means(
    session: AsyncSession, meters: list[int], day: date
) -> dict[int, tuple[int, int]]:
    """Per meter: (mean Wh a day over the 28 days before the week, mean over the week)."""
    first = day - timedelta(days=RECENT_DAYS + BASELINE_DAYS - 1)
    split = day - timedelta(days=RECENT_DAYS - 1)
    sums: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    rows = await session.execute(
        select(ConsumptionDaily.meter_pk, ConsumptionDaily.day, ConsumptionDaily.wh).where(
            ConsumptionDaily.meter_pk.in_(meters),
            ConsumptionDaily.quantity == Quantity.ENERGY_IMPORT,
            ConsumptionDaily.day >= first,
            ConsumptionDaily.day <= day,
        )
    )
    for meter, d, wh in rows.all():
        sums[meter][1 if d >= split else 0] += int(wh)
    return {m: (sums[m][0] // BASELINE_DAYS, sums[m][1] // RECENT_DAYS) for m in meters}


async def _open_task_meters(session: AsyncSession, meters: list[int]) -> set[int]:
    rows = await session.scalars(
        select(TheftSuspicion.meter_pk)
        .join(FieldTask, FieldTask.id == TheftSuspicion.task_id)
        .where(TheftSuspicion.meter_pk.in_(meters), FieldTask.status == FieldTaskStatus.OPEN)
    )
    return set(rows.all())


async def detect(session: AsyncSession, caller: Caller, body: DetectIn, day: date) -> DetectOut:
    """Judge every area with a total meter in the caller's scope, the week ending ``day``;
    commits."""
    areas = (
        await session.execute(
            select(TransformerArea.id, TransformerArea.grid_id)
            .join(AreaSupply, AreaSupply.transformer_area_id == TransformerArea.id)
            .where(AreaSupply.total_meter_pk.is_not(None))
            .order_by(TransformerArea.id)
        )
    ).all()
    checked = rising = 0
    new: list[int] = []
    for area_id, grid_id in areas:
        if not grid_in_scope(caller, grid_id):
            continue
        checked += 1
        rates = await _rates(session, area_id, day)
        if rates is None or rates[1] - rates[0] < body.loss_rise:
            continue
        rising += 1
        meters = (await members(session, day, [area_id])).get(area_id, [])
        means = await _daily_means(session, meters, day)
        busy = await _open_task_meters(session, meters)
        for meter_pk in meters:
            base, recent = means[meter_pk]
            if meter_pk in busy or base < max(body.min_baseline_wh, 1):
                continue
            if recent >= base * body.drop_share:
                continue
            made = await _suspect(session, caller, area_id, meter_pk, day, base, recent, rates)
            if made is not None:
                new.append(made)
    await session.commit()
    return DetectOut(checked, rising, await _views(session, caller, ids=new))


async def _suspect(
    session: AsyncSession, caller: Caller, area_id: int, meter_pk: int, day: date,
    base: int, recent: int, rates: tuple[float, float],
) -> int | None:  # fmt: skip
    customer = await session.scalar(select(Meter.customer_id).where(Meter.id == meter_pk))
    if customer is None:  # a meter with no customer has nobody to visit
        return None
    try:
        async with session.begin_nested():
            task = FieldTask(kind=FieldTaskKind.METER_CHECK, customer_id=customer,
                             meter_pk=meter_pk, created_by=caller.user_id,
                             due_on=day + timedelta(days=TASK_DUE_DAYS))  # fmt: skip
            session.add(task)
            await session.flush()
            row = TheftSuspicion(meter_pk=meter_pk, transformer_area_id=area_id, day=day,
                                 baseline_wh_per_day=base, recent_wh_per_day=recent,
                                 loss_rate_before=round(rates[0], 4),
                                 loss_rate_after=round(rates[1], 4), task_id=task.id)  # fmt: skip
            session.add(row)
            await session.flush()
    except IntegrityError:
        return None  # detected already (another caller at the same time)
    return row.id


async def _views(
    session: AsyncSession, caller: Caller, ids: list[int] | None = None, open_only: bool = False,
    limit: int = 100, offset: int = 0,
) -> list[SuspicionOut]:  # fmt: skip
    s = TheftSuspicion
    stmt = (
        select(
            s,
            Meter.meter_id,
            Meter.customer_id,
            TransformerArea.code,
            FieldTask.status,
            FieldTask.result,
        )
        .join(Meter, Meter.id == s.meter_pk)
        .join(TransformerArea, TransformerArea.id == s.transformer_area_id)
        .join(FieldTask, FieldTask.id == s.task_id)
        .order_by(s.day.desc(), s.id.desc())
    )
    if ids is not None:
        if not ids:
            return []
        stmt = stmt.where(s.id.in_(ids))
    if open_only:
        stmt = stmt.where(FieldTask.status == FieldTaskStatus.OPEN)
    if not caller.unscoped:
        stmt = stmt.where(TransformerArea.grid_id.in_(caller.grid_ids))
    rows = (await session.execute(stmt.limit(limit).offset(offset))).all()
    return [
        SuspicionOut(
            r.id,
            r.meter_pk,
            meter_id,
            customer_id or 0,
            r.transformer_area_id,
            code,
            r.day,
            r.baseline_wh_per_day,
            r.recent_wh_per_day,
            r.loss_rate_before,
            r.loss_rate_after,
            r.task_id,
            status.value,
            result,
        )
        for r, meter_id, customer_id, code, status, result in rows
    ]


async def suspicions(
    session: AsyncSession, caller: Caller, open_only: bool, limit: int, offset: int
) -> list[SuspicionOut]:
    """Newest first, within the caller's scope."""
    return await _views(session, caller, open_only=open_only, limit=limit, offset=offset)


async def count_open(session: AsyncSession) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(TheftSuspicion)
            .join(FieldTask, FieldTask.id == TheftSuspicion.task_id)
            .where(FieldTask.status == FieldTaskStatus.OPEN)
        )
        or 0
    )
