"""Load and demand trends of an area under /api/areas/{area_id}/demand, for back-office staff."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from litestar import get
from litestar.datastructures import State

from backend.areas.trends import service
from backend.areas.trends.schemas import DemandOut
from backend.auth.guards import BACK_OFFICE, CallerDep, ReadSession, requires_role
from backend.controllers import FieldApiController
from backend.paging import FromDay, Id, ToDay


class DemandController(FieldApiController):
    """Every handler documents the 400, 404 and 409 its service may answer."""

    path = "/api/areas/{area_id:int}/demand"
    tags = ("areas",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Daily peaks and monthly demand")
    async def demand(
        self,
        caller: CallerDep,
        read_session: ReadSession,
        state: State,
        area_id: Id,
        from_day: FromDay,
        to_day: ToDay,
    ) -> DemandOut:
        """Each local day's peak load against the transformer's kVA, and the maximum demand of
        each month, over at most 400 days."""
        tz = ZoneInfo(state.settings.timezone)
        return await service.demand(read_session, caller, area_id, from_day, to_day, tz)
