"""Grids (网格) and their transformer areas (台区), for filters and the inspector's home."""

from __future__ import annotations

from litestar import get

from backend.auth.guards import STAFF, ApiController, CallerDep, DbSession, requires_role
from backend.field.grids import service
from backend.field.grids.schemas import GridOut


class GridController(ApiController):
    path = "/api/grids"
    tags = ("field",)

    @get("/", guards=[requires_role(*STAFF)], summary="Grids and transformer areas")
    async def list_grids(self, caller: CallerDep, db_session: DbSession) -> list[GridOut]:
        """All grids for the back office; an inspector's own grids for an inspector."""
        return await service.list_grids(db_session, caller)
