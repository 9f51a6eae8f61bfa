"""Grids and transformer areas, scoped: inspectors see the grids they own. No HTTP here."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.field.grids.models import Grid, TransformerArea
from backend.field.grids.schemas import GridOut, TransformerAreaOut


def grid_scope(caller: Caller) -> ColumnElement[bool]:
    if caller.unscoped:
        return true()
    if caller.grid_ids:
        return Grid.id.in_(caller.grid_ids)
    return false()


async def list_grids(session: AsyncSession, caller: Caller) -> list[GridOut]:
    grids = list(await session.scalars(select(Grid).where(grid_scope(caller)).order_by(Grid.code)))
    areas: dict[int, list[TransformerAreaOut]] = defaultdict(list)
    if grids:
        rows = await session.scalars(
            select(TransformerArea)
            .where(TransformerArea.grid_id.in_([g.id for g in grids]))
            .order_by(TransformerArea.code)
        )
        for a in rows:
            areas[a.grid_id or 0].append(TransformerAreaOut(a.id, a.code, a.name))
    return [GridOut(g.id, g.code, g.name, g.inspector_id, areas[g.id]) for g in grids]
