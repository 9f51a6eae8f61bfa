"""Held readings (quarantine) under /api/quarantine: list, release, reject."""

from __future__ import annotations

from typing import Annotated

from litestar import get, post
from litestar.datastructures import State
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from backend.auth.guards import BACK_OFFICE, ApiController, CallerDep, DbSession, requires_role
from backend.controllers import answers
from backend.errors import Conflict, Invalid, NotFound
from backend.metering.quarantine import service
from backend.metering.quarantine.models import HoldStatus
from backend.metering.quarantine.schemas import HeldReading, HoldDecision
from backend.paging import Id, Limit, Offset

StatusQuery = Annotated[
    HoldStatus | None,
    QueryParameter(description="held (the default: waiting for a decision), released, rejected"),
]
MeterQuery = Annotated[
    str | None, QueryParameter(min_length=1, max_length=64, pattern="^[^\\x00]*$")
]


class QuarantineController(ApiController):
    path = "/api/quarantine"
    tags = ("metering",)

    @get("/", guards=[requires_role(*BACK_OFFICE)], summary="Held readings")
    async def list_holds(
        self,
        caller: CallerDep,
        db_session: DbSession,
        status: StatusQuery = HoldStatus.HELD,
        meter_id: MeterQuery = None,
        limit: Limit = 100,
        offset: Offset = 0,
    ) -> list[HeldReading]:
        """Readings held for review (oldest first): stored, never billed nor counted until
        someone releases or rejects them. Scoped like the meters the caller may see."""
        return await service.list_holds(
            db_session, caller, status=status, meter_id=meter_id, limit=limit, offset=offset
        )

    @get("/{hold_id:int}", guards=[requires_role(*BACK_OFFICE)], summary="One held reading")
    async def get_hold(
        self, caller: CallerDep, db_session: DbSession, hold_id: FromPath[Id]
    ) -> HeldReading:
        return await service.get_hold(db_session, caller, hold_id)

    @post(
        "/{hold_id:int}/release",
        guards=[requires_role(*BACK_OFFICE)],
        status_code=HTTP_200_OK,
        summary="Release a held reading: bill and count it",
        responses=answers(Invalid, NotFound, Conflict),
    )
    async def release(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        hold_id: FromPath[Id],
        data: JSONBody[HoldDecision],
    ) -> HeldReading:
        """Exactly one decision wins (409 ``hold_decided`` for the others). The reading then
        counts like a new one: consumption at once, billing after it."""
        return await service.decide(db_session, caller, hold_id, data, state.derived, release=True)

    @post(
        "/{hold_id:int}/reject",
        guards=[requires_role(*BACK_OFFICE)],
        status_code=HTTP_200_OK,
        summary="Reject a held reading: never billed",
        responses=answers(Invalid, NotFound, Conflict),
    )
    async def reject(
        self,
        caller: CallerDep,
        db_session: DbSession,
        hold_id: FromPath[Id],
        state: State,
        data: JSONBody[HoldDecision],
    ) -> HeldReading:
        """The reading stays stored (quality ``invalid``) and is never billed nor counted."""
        return await service.decide(db_session, caller, hold_id, data, state.derived, release=False)
