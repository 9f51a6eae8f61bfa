"""Suspected theft or fault (窃电/故障嫌疑) under /api/areas/suspicions, for back-office staff."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody

from backend.areas.theft import service
from backend.areas.theft.schemas import DetectIn, DetectOut, SuspicionOut
from backend.auth.guards import BACK_OFFICE, CallerDep, DbSession, requires_role
from backend.controllers import FieldApiController, now_ms
from backend.paging import Limit, Offset


class TheftController(FieldApiController):
    """Every handler documents the 400 its body or query may answer."""

    path = "/api/areas/suspicions"
    tags = ("areas",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Suspected theft or fault")
    async def list_suspicions(
        self,
        caller: CallerDep,
        db_session: DbSession,
        open_only: FromQuery[bool] = False,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[SuspicionOut]:
        """Newest first, with the inspection task's status and result; the caller's areas."""
        return await service.suspicions(db_session, caller, open_only, limit, offset)

    @post("/detect", guards=[requires_role(*BACK_OFFICE)], summary="Find suspects", status_code=200)
    async def detect(
        self, caller: CallerDep, db_session: DbSession, state: State, data: JSONBody[DetectIn]
    ) -> DetectOut:
        """Meters whose consumption fell while their area's loss rose; one inspection task each.
        Without a day, the week ending yesterday (local)."""
        tz = ZoneInfo(state.settings.timezone)
        today = datetime.fromtimestamp(now_ms(state) / 1000, tz).date()
        day = data.day if data.day is not None else today - timedelta(days=1)
        return await service.detect(db_session, caller, data, day)
