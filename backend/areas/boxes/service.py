"""Meter boxes of an area: listed and created by back-office staff within their org unit.

A caller scoped to an org unit reaches only the areas of the grids below it; another unit's
area is "not found". Creating a box whose code the area already has answers that box (the
same request twice is one box); a code used in another area is refused."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.areas.boxes.models import MeterBox, MeterPlacement
from backend.areas.boxes.schemas import BoxIn, BoxOut
from backend.auth.guards import Caller
from backend.auth.scope import grid_in_scope
from backend.errors import Conflict, NotFound
from backend.errors import ErrorCode as E
from backend.field.grids.models import TransformerArea


async def _area(session: AsyncSession, caller: Caller, area_id: int) -> TransformerArea:
    area = await session.get(TransformerArea, area_id)
    if area is None or not grid_in_scope(caller, area.grid_id):
        raise NotFound(E.AREA_NOT_FOUND, f"area {area_id} not found", area=area_id)
    return area


async def list_boxes(session: AsyncSession, caller: Caller, area_id: int) -> list[BoxOut]:
    await _area(session, caller, area_id)
    placed = (
        select(MeterPlacement.meter_box_id, func.count().label("n"))
        .where(MeterPlacement.to_day.is_(None), MeterPlacement.meter_box_id.is_not(None))
        .group_by(MeterPlacement.meter_box_id)
        .subquery()
    )
    rows = await session.execute(
        select(MeterBox, func.coalesce(placed.c.n, 0))
        .outerjoin(placed, placed.c.meter_box_id == MeterBox.id)
        .where(MeterBox.transformer_area_id == area_id)
        .order_by(MeterBox.code)
    )
    return [BoxOut(b.id, b.code, b.transformer_area_id, int(n)) for b, n in rows.all()]


async def create_box(session: AsyncSession, caller: Caller, area_id: int, body: BoxIn) -> BoxOut:
    await _area(session, caller, area_id)
    box = await session.scalar(select(MeterBox).where(MeterBox.code == body.code))
    if box is None:
        session.add(MeterBox(code=body.code, transformer_area_id=area_id))
        try:
            await session.commit()
        except IntegrityError:  # the same code created at the same moment: read the winner
            await session.rollback()
        box = await session.scalar(select(MeterBox).where(MeterBox.code == body.code))
        assert box is not None
    if box.transformer_area_id != area_id:
        raise Conflict(
            E.METER_BOX_CODE_TAKEN,
            f"meter box {body.code} is in another area",
            field="code",
            box=body.code,
        )
    boxes = await list_boxes(session, caller, area_id)
    return next(b for b in boxes if b.id == box.id)
