"""Grids (网格) and their transformer areas (台区), for filters and the inspector's home."""

from __future__ import annotations

from litestar import get, post, put
from litestar.params import JSONBody
from litestar.status_codes import HTTP_204_NO_CONTENT

from backend.auth.guards import (
    BACK_OFFICE,
    STAFF,
    ApiController,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.auth.models import Role
from backend.field.grids import service
from backend.field.grids.schemas import GridOut, OrgUnitIn, OrgUnitOut, UnitRef
from backend.paging import Id


class GridController(ApiController):
    path = "/api/grids"
    tags = ("field",)

    @get("/", guards=[requires_role(*STAFF)], summary="Grids and transformer areas")
    async def list_grids(self, caller: CallerDep, db_session: DbSession) -> list[GridOut]:
        """All grids for the back office; an inspector's own grids for an inspector."""
        return await service.list_grids(db_session, caller)

    @put("/{grid_id:int}/org-unit", guards=[requires_role(Role.ADMIN)], summary="A grid's district")
    async def place_grid(
        self, db_session: DbSession, grid_id: Id, data: JSONBody[UnitRef]
    ) -> GridOut:
        """Put the grid in a district unit (null takes it out). Admin."""
        return await service.place_grid(db_session, grid_id, data)


class OrgUnitController(ApiController):
    """Organisation units province → city → district (R110); grids sit in districts."""

    path = "/api/org-units"
    tags = ("field",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Organisation units")
    async def list_units(self, db_session: DbSession) -> list[OrgUnitOut]:
        """Every unit with the grids placed in it."""
        return await service.list_units(db_session)

    @post("/", guards=[requires_role(Role.ADMIN)], summary="Create an organisation unit")
    async def create_unit(self, db_session: DbSession, data: JSONBody[OrgUnitIn]) -> OrgUnitOut:
        """201 with the unit; a parent of the wrong level is 400, a taken code 409. Admin."""
        return await service.create_unit(db_session, data)

    @put(
        "/users/{user_id:int}", guards=[requires_role(Role.ADMIN)], status_code=HTTP_204_NO_CONTENT,
        summary="Scope a staff user to a unit",
    )  # fmt: skip
    async def scope_user(self, db_session: DbSession, user_id: Id, data: JSONBody[UnitRef]) -> None:
        """The user sees every grid below the unit from their next request; null lifts it."""
        await service.scope_user(db_session, user_id, data)
