"""Applications for supply under /api/expansion: apply, documents, the queue, moving steps,
the survey, energisation, indicators."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, HeaderParameter, JSONBody, Parameter, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import BACK_OFFICE, EVERYONE, STAFF, CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController, answers, now_ms
from backend.errors import TooLarge, Unprocessable, UnsupportedMedia
from backend.expansion import documents, energise, indicators, service, views
from backend.expansion.models import ApplicationStatus, DocumentKind
from backend.expansion.process import Book, shipped_book
from backend.expansion.schemas import (
    ApplicationCreate,
    ApplicationPage,
    ApplicationView,
    Energise,
    Indicators,
    StepMove,
    SurveyRecord,
    Withdrawal,
)
from backend.paging import Id, Limit, Offset
from backend.servicedesk.workflow.service import WorkingTime, working_time

# a time within the contract's range (up to 9999-12-31), else 400 naming the field
EpochMsQuery = Annotated[int | None, Parameter(ge=0, le=253402300799999)]

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=8,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="one per application, made by the client; a retry sends the same key and body",
    ),
]
DAY_MS = 86_400_000
APPLICANTS = (Role.CUSTOMER, *STAFF)


def _wt(state: State) -> WorkingTime:
    return working_time(state.settings.prepaid_holiday_calendar, state.settings.timezone)


def _book() -> Book:
    return shipped_book()


def _answer(view: ApplicationView, new: bool) -> Response[ApplicationView]:
    return Response(
        view,
        status_code=HTTP_201_CREATED if new else HTTP_200_OK,
        headers={"Idempotent-Replayed": "false" if new else "true"},
    )


class ExpansionController(FieldApiController):
    path = "/api/expansion"
    tags = ("expansion",)

    @post(
        "/applications",
        guards=[requires_role(*APPLICANTS)],
        responses=answers(Unprocessable),
        summary="Apply for supply",
    )
    async def apply(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        idempotency_key: IdempotencyKey,
        data: JSONBody[ApplicationCreate],
    ) -> Response[ApplicationView]:
        """A customer applies online for themselves; an operator at the counter or a customer
        manager on site for the person in front of them. 201 when made; the same key and
        body again: 200 with the same application; the same key, another body: 422."""
        view, new = await service.submit(
            db_session, caller, idempotency_key, data, _book(), _wt(state), now_ms(state)
        )
        return _answer(view, new)

    @get("/applications", guards=[requires_role(*EVERYONE)], summary="Applications")
    async def queue(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        status: FromQuery[ApplicationStatus | None] = None,
        step: FromQuery[str | None] = None,
        overdue: FromQuery[bool] = False,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ApplicationPage:
        """Staff: the queue in scope by deadline; a customer: their own, newest first."""
        return await views.page(
            db_session,
            caller,
            _book(),
            now_ms(state),
            status=status,
            step=step,
            overdue=overdue,
            limit=limit,
            offset=offset,
        )

    @get(
        "/applications/{app_id:int}",
        guards=[requires_role(*EVERYONE)],
        summary="An application, its steps and deadlines",
    )
    async def detail(
        self, caller: CallerDep, db_session: DbSession, state: State, app_id: Id
    ) -> ApplicationView:
        return await views.get(db_session, caller, app_id, _book(), now_ms(state))

    @post(
        "/applications/{app_id:int}/documents/{kind:str}",
        guards=[requires_role(*APPLICANTS)],
        responses=answers(TooLarge, UnsupportedMedia),
        summary="Attach a document",
    )
    async def document(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        app_id: Id,
        kind: Annotated[DocumentKind, PathParameter()],
        request: Request[Any, Any, Any],
    ) -> Response[ApplicationView]:
        """The raw photo (image/jpeg, image/png, image/webp) or PDF as the body, at most
        1 MiB, checked by its first bytes before it is stored (by SHA-256)."""
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > documents.MAX_BYTES:  # stop reading: never buffer an oversized one
                documents.check(bytes(data))
        view = await service.add_document(
            db_session,
            caller,
            app_id,
            kind,
            bytes(data),
            state.settings.data_path,
            _book(),
            now_ms(state),
        )
        return Response(view, status_code=HTTP_201_CREATED)

    @post(
        "/applications/{app_id:int}/advance",
        guards=[requires_role(*STAFF)],
        status_code=HTTP_200_OK,
        summary="Mark the current step done",
    )
    async def advance(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        app_id: Id,
        data: JSONBody[StepMove],
    ) -> ApplicationView:
        return await service.advance(
            db_session, caller, app_id, data, _book(), _wt(state), now_ms(state)
        )

    @post(
        "/applications/{app_id:int}/withdraw",
        guards=[requires_role(*APPLICANTS)],
        status_code=HTTP_200_OK,
        summary="Withdraw (撤回) before energisation, with a reason code",
    )
    async def withdraw(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        app_id: Id,
        data: JSONBody[Withdrawal],
    ) -> Response[ApplicationView]:
        """The customer their own, staff in scope. 200 with ``Idempotent-Replayed: false`` when
        this request withdrew it, ``true`` when it already was; 409 ``application_moved`` when
        it moved since ``version``, ``application_closed`` when energised."""
        view, new = await service.withdraw(db_session, caller, app_id, data, _book(), now_ms(state))
        return Response(
            view, status_code=HTTP_200_OK, headers={"Idempotent-Replayed": str(not new).lower()}
        )

    @post(
        "/applications/{app_id:int}/survey",
        guards=[requires_role(*STAFF)],
        status_code=HTTP_200_OK,
        summary="Record the site survey (GPS and photos)",
    )
    async def survey(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        app_id: Id,
        data: JSONBody[SurveyRecord],
    ) -> ApplicationView:
        return await service.survey(
            db_session, caller, app_id, data, _book(), _wt(state), now_ms(state)
        )

    @post(
        "/applications/{app_id:int}/energise",
        guards=[requires_role(*STAFF)],
        summary="Energise: create the customer, account, tariff, meter and placement",
    )
    async def energise(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        app_id: Id,
        data: JSONBody[Energise],
    ) -> Response[ApplicationView]:
        """201 when this request energised it; 200 (``Idempotent-Replayed: true``) when it
        already was: nothing is created twice."""
        view, new = await energise.energise(
            db_session, caller, app_id, data, _book(), state.settings.timezone, now_ms(state)
        )
        return _answer(view, new)

    @get(
        "/indicators",
        guards=[requires_role(*BACK_OFFICE, Role.INSPECTOR)],
        summary="Lead times, on-time rate, time to energisation",
    )
    async def figures(
        self,
        caller: CallerDep,
        db_session: DbSession,
        state: State,
        from_ms: EpochMsQuery = None,
        to_ms: EpochMsQuery = None,
    ) -> Indicators:
        """Over applications made in [from_ms, to_ms) (default: the last 365 days)."""
        end = to_ms if to_ms is not None else now_ms(state) + 1
        start = from_ms if from_ms is not None else end - 365 * DAY_MS
        return await indicators.indicators(db_session, caller, _book(), start, end)
