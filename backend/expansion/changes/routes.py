"""Account changes under /api/lifecycle: customers request on their own accounts, operators
approve or reject."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import BACK_OFFICE, EVERYONE, CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController, answers, now_ms
from backend.errors import Conflict, NotFound, Unprocessable
from backend.expansion.changes import service
from backend.expansion.changes.models import ChangeStatus
from backend.expansion.changes.schemas import Change, ChangeIn, ChangePage, ChangeReject
from backend.paging import Id, Limit, Offset, OptId
from backend.servicedesk.workflow.service import working_time

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=8,
        max_length=120,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="one per change, made by the client; a retry sends the same key and body",
    ),
]
REQUESTERS = (Role.CUSTOMER, Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN)


class LifecycleController(FieldApiController):
    path = "/api/lifecycle"
    tags = ("lifecycle",)

    @post(
        "/changes",
        guards=[requires_role(*REQUESTERS)],
        responses=answers(NotFound, Conflict, Unprocessable),
        summary="Request an account change",
    )
    async def request(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        idempotency_key: IdempotencyKey,
        data: JSONBody[ChangeIn],
    ) -> Response[Change]:
        """A change of category (``kind`` ``category``) or a closure (``closure``) of an
        account, as a work order an operator approves. 201 when made; the same
        ``Idempotency-Key`` and body again: 200 with the same change; another body: 422."""
        wt = working_time(state.settings.prepaid_holiday_calendar, state.settings.timezone)
        change, new = await service.request_change(
            db_session,
            caller,
            idempotency_key,
            data,
            wt,
            now_ms(state),
            ZoneInfo(state.settings.timezone),
        )
        return Response(
            change,
            status_code=HTTP_201_CREATED if new else HTTP_200_OK,
            headers={"Idempotent-Replayed": "false" if new else "true"},
        )

    @get("/changes", guards=[requires_role(*EVERYONE)], summary="Account changes")
    async def changes(
        self,
        caller: CallerDep,
        db_session: DbSession,
        account_id: OptId = None,
        status: FromQuery[ChangeStatus | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ChangePage:
        """Waiting changes first (the operators' queue), then the decided ones; each caller
        sees the changes of the accounts in their scope."""
        return await service.list_changes(
            db_session, caller, account_id=account_id, status=status, limit=limit, offset=offset
        )

    @get("/changes/{change_id:int}", guards=[requires_role(*EVERYONE)], summary="A change")
    async def change(self, caller: CallerDep, db_session: DbSession, change_id: Id) -> Change:
        return await service.get_change(db_session, caller, change_id)

    @post(
        "/changes/{change_id:int}/approve",
        guards=[requires_role(*BACK_OFFICE)],
        status_code=HTTP_200_OK,
        responses=answers(Conflict, Unprocessable),
        summary="Approve and apply a change",
    )
    async def approve(
        self, caller: CallerDep, db_session: DbSession, state: State, change_id: Id
    ) -> Change:
        """Applies the change to the account and closes its work order; twice: 409."""
        return await service.approve(
            db_session,
            caller,
            change_id,
            now_ms(state),
            ZoneInfo(state.settings.timezone),
            bill=state.settings.prepaid_billing,
        )

    @post(
        "/changes/{change_id:int}/reject",
        guards=[requires_role(*BACK_OFFICE)],
        status_code=HTTP_200_OK,
        responses=answers(Conflict),
        summary="Reject a change",
    )
    async def reject(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        change_id: Id,
        data: JSONBody[ChangeReject],
    ) -> Change:
        return await service.reject(db_session, caller, change_id, data, now_ms(state))
