"""Meter boxes of an area under /api/areas/{area_id}/boxes, for back-office staff."""

from __future__ import annotations

from litestar import get, post
from litestar.params import JSONBody

from backend.areas.boxes import service
from backend.areas.boxes.schemas import BoxIn, BoxOut
from backend.auth.guards import BACK_OFFICE, CallerDep, DbSession, requires_role
from backend.controllers import FieldApiController
from backend.paging import Id


class MeterBoxController(FieldApiController):
    """Every handler documents the 400, 404 and 409 its service may answer."""

    path = "/api/areas/{area_id:int}/boxes"
    tags = ("areas",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Meter boxes of an area")
    async def list_boxes(
        self, caller: CallerDep, db_session: DbSession, area_id: Id
    ) -> list[BoxOut]:
        """The area's boxes with the meters placed in each today."""
        return await service.list_boxes(db_session, caller, area_id)

    @post("/", guards=[requires_role(*BACK_OFFICE)], summary="Add a meter box", status_code=200)
    async def create_box(
        self, caller: CallerDep, db_session: DbSession, area_id: Id, data: JSONBody[BoxIn]
    ) -> BoxOut:
        """A box with a code the area already has is that box; another area's code is 409."""
        return await service.create_box(db_session, caller, area_id, data)
