"""Grids and transformer areas, scoped: inspectors see the grids they own. No HTTP here."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import ColumnElement, false, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.grids.models import PARENT_LEVEL, Grid, OrgLevel, OrgUnit, TransformerArea
from backend.field.grids.schemas import GridOut, OrgUnitIn, OrgUnitOut, TransformerAreaOut, UnitRef


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
    return [
        GridOut(g.id, g.code, g.name, g.inspector_id, g.org_unit_id, areas[g.id]) for g in grids
    ]


# --- organisation units: province → city → district → grid (R110) ----------------------------


def _unit_out(u: OrgUnit, grid_ids: list[int]) -> OrgUnitOut:
    return OrgUnitOut(u.id, u.parent_id, u.level, u.code, u.name, grid_ids)


async def list_units(session: AsyncSession) -> list[OrgUnitOut]:
    units = list(await session.scalars(select(OrgUnit).order_by(OrgUnit.level, OrgUnit.code)))
    placed: dict[int, list[int]] = defaultdict(list)
    for gid, uid in await session.execute(
        select(Grid.id, Grid.org_unit_id).where(Grid.org_unit_id.is_not(None)).order_by(Grid.id)
    ):
        placed[uid or 0].append(gid)
    return [_unit_out(u, placed[u.id]) for u in units]


async def _unit(session: AsyncSession, unit_id: int, field: str) -> OrgUnit:
    unit = await session.get(OrgUnit, unit_id)
    if unit is None:
        raise NotFound(E.NOT_FOUND, f"organisation unit {unit_id} not found", field=field)
    return unit


async def create_unit(session: AsyncSession, data: OrgUnitIn) -> OrgUnitOut:
    """A province stands alone; a city sits in a province, a district in a city."""
    want = PARENT_LEVEL[data.level]
    parent = None if data.parent_id is None else await _unit(session, data.parent_id, "parent_id")
    if (parent.level if parent else None) != want:
        raise Invalid(E.ORG_UNIT_INVALID, f"a {data.level} needs a parent of level {want}",
                      field="parent_id", reason="parent_level")  # fmt: skip
    unit = OrgUnit(parent_id=data.parent_id, level=data.level, code=data.code, name=data.name)
    session.add(unit)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise Conflict(E.ORG_UNIT_INVALID, f"unit code {data.code} is taken", field="code",
                       reason="code_taken") from None  # fmt: skip
    return _unit_out(unit, [])


async def place_grid(session: AsyncSession, grid_id: int, data: UnitRef) -> GridOut:
    """Put a grid in a district (or take it out with null)."""
    grid = await session.get(Grid, grid_id)
    if grid is None:
        raise NotFound(E.NOT_FOUND, f"grid {grid_id} not found")
    if data.org_unit_id is not None:
        unit = await _unit(session, data.org_unit_id, "org_unit_id")
        if unit.level is not OrgLevel.DISTRICT:
            raise Invalid(E.ORG_UNIT_INVALID, "grids belong to a district", field="org_unit_id",
                          reason="not_district")  # fmt: skip
    grid.org_unit_id = data.org_unit_id
    await session.commit()
    return GridOut(grid.id, grid.code, grid.name, grid.inspector_id, grid.org_unit_id, [])


async def scope_user(session: AsyncSession, user_id: int, data: UnitRef) -> None:
    """Scope a staff user to a unit: from their next request they see every grid below it (a
    back-office user no longer sees everything); null lifts it."""
    user = await session.get(User, user_id)
    if user is None or user.role == Role.CUSTOMER:
        raise NotFound(E.NOT_FOUND, f"staff user {user_id} not found")
    if data.org_unit_id is not None:
        await _unit(session, data.org_unit_id, "org_unit_id")
    user.org_unit_id = data.org_unit_id
    await session.commit()
