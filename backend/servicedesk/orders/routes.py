"""Work orders under /api/servicedesk: intake, the queue, detail, decisions, rating."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, HeaderParameter, JSONBody
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.auth.guards import BACK_OFFICE, EVERYONE, STAFF, CallerDep, DbSession, requires_role
from backend.auth.models import Role
from backend.controllers import FieldApiController, answers, now_ms
from backend.errors import ErrorCode, Forbidden, NotFound, TooLarge, Unprocessable, UnsupportedMedia
from backend.field.readings import photos
from backend.field.readings.models import FieldPhoto
from backend.field.readings.schemas import Photo
from backend.paging import Id, Limit, Offset, SearchText
from backend.servicedesk.orders import decisions, service
from backend.servicedesk.orders.models import OrderStatus
from backend.servicedesk.orders.schemas import (
    CustomerHit,
    OrderAdvance,
    OrderClose,
    OrderDetail,
    OrderDispatch,
    OrderIntake,
    OrderPage,
    OrderRating,
    OrderReport,
    OrderReturnVisit,
    OrderTransfer,
    Person,
    SweepResult,
)
from backend.servicedesk.workflow.models import OrderKind
from backend.servicedesk.workflow.service import WorkingTime, working_time

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key", min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="one per order, made by the client; a retry sends the same key and body",
    ),
]  # fmt: skip
ACT = answers(Forbidden)


def _wt(state: State) -> WorkingTime:
    return working_time(state.settings.prepaid_holiday_calendar, state.settings.timezone)


def _created(detail: OrderDetail, new: bool) -> Response[OrderDetail]:
    return Response(
        detail,
        status_code=HTTP_201_CREATED if new else HTTP_200_OK,
        headers={"Idempotent-Replayed": "false" if new else "true"},
    )


class WorkOrderController(FieldApiController):
    path = "/api/servicedesk"
    tags = ("servicedesk",)

    @post(
        "/orders", guards=[requires_role(*STAFF)], responses=answers(Unprocessable),
        summary="Take a work order",
    )  # fmt: skip
    async def intake(
        self, caller: CallerDep, db_session: DbSession, state: State,
        idempotency_key: IdempotencyKey, data: JSONBody[OrderIntake],
    ) -> Response[OrderDetail]:  # fmt: skip
        """Staff take an order from any channel and own it (首问负责制). 201 when made; the
        same ``Idempotency-Key`` and body again: 200 with the same order (header
        ``Idempotent-Replayed: true``); the same key with another body: 422. A fault on a
        transformer area under a known outage is linked to that outage."""
        detail, new = await service.create_order(
            db_session, caller, idempotency_key, data, _wt(state), now_ms(state)
        )
        return _created(detail, new)

    @post(
        "/reports", guards=[requires_role(Role.CUSTOMER)], responses=answers(Unprocessable),
        summary="Report from the app",
    )  # fmt: skip
    async def report(
        self, caller: CallerDep, db_session: DbSession, state: State,
        idempotency_key: IdempotencyKey, data: JSONBody[OrderReport],
    ) -> Response[OrderDetail]:  # fmt: skip
        """A customer reports a fault (or another kind) for their own account; the first
        operator to take it owns it. Idempotent as ``POST /orders``."""
        detail, new = await service.create_order(
            db_session, caller, idempotency_key, data, _wt(state), now_ms(state)
        )
        return _created(detail, new)

    @get("/orders", guards=[requires_role(*EVERYONE)], summary="Work orders")
    async def list_orders(
        self, caller: CallerDep, db_session: DbSession, state: State,
        status: FromQuery[OrderStatus | None] = None, mine: FromQuery[bool] = False,
        overdue: FromQuery[bool] = False, escalated: FromQuery[bool | None] = None,
        kind: FromQuery[OrderKind | None] = None, limit: Limit = 50, offset: Offset = 0,
    ) -> OrderPage:  # fmt: skip
        """The queue: open orders by deadline. Customers see their own (newest first),
        inspectors those they own, took or were dispatched to, the back office all."""
        return await service.list_orders(
            db_session, caller, _wt(state), now_ms(state), status=status, mine=mine,
            overdue=overdue, escalated=escalated, kind=kind, limit=limit, offset=offset,
        )  # fmt: skip

    @get("/orders/{order_id:int}", guards=[requires_role(*EVERYONE)], summary="A work order")
    async def get_order(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id
    ) -> OrderDetail:
        """The order, its steps through the workflow and its timeline."""
        return await service.get_order(db_session, caller, order_id, _wt(state), now_ms(state))

    @post("/orders/{order_id:int}/take", guards=[requires_role(*STAFF)], status_code=HTTP_200_OK,
          responses=ACT, summary="Take ownership")  # fmt: skip
    async def take(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderAdvance],
    ) -> OrderDetail:  # fmt: skip
        """Own an order reported from the app: the first to take it owns it."""
        return await decisions.take(db_session, caller, order_id, data, _wt(state), now_ms(state))

    @post("/orders/{order_id:int}/advance", guards=[requires_role(*STAFF)],
          status_code=HTTP_200_OK, responses=ACT, summary="Node done")  # fmt: skip
    async def advance(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderAdvance],
    ) -> OrderDetail:  # fmt: skip
        """The current node is done (by its role or the owner): on to the next."""
        return await decisions.advance(
            db_session, caller, order_id, data, _wt(state), now_ms(state)
        )

    @post("/orders/{order_id:int}/transfer", guards=[requires_role(*STAFF)],
          status_code=HTTP_200_OK, responses=ACT, summary="Transfer ownership")  # fmt: skip
    async def transfer(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderTransfer],
    ) -> OrderDetail:  # fmt: skip
        """The owner (or a supervisor) hands the order on, with a reason; audited."""
        return await decisions.transfer(
            db_session, caller, order_id, data, _wt(state), now_ms(state)
        )

    @post("/orders/{order_id:int}/dispatch", guards=[requires_role(*BACK_OFFICE)],
          status_code=HTTP_200_OK, responses=ACT, summary="Dispatch a crew")  # fmt: skip
    async def dispatch(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderDispatch],
    ) -> OrderDetail:  # fmt: skip
        """Send a crew to a fault; the crew's PDA report names the order and attaches."""
        return await decisions.dispatch(
            db_session, caller, order_id, data, _wt(state), now_ms(state)
        )

    @post("/orders/{order_id:int}/close", guards=[requires_role(*STAFF)],
          status_code=HTTP_200_OK, responses=ACT, summary="Close with a result")  # fmt: skip
    async def close(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderClose],
    ) -> OrderDetail:  # fmt: skip
        return await decisions.close(db_session, caller, order_id, data, _wt(state), now_ms(state))

    @post("/orders/{order_id:int}/return-visit", guards=[requires_role(*BACK_OFFICE)],
          status_code=HTTP_200_OK, summary="Record the return visit")  # fmt: skip
    async def return_visit(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderReturnVisit],
    ) -> OrderDetail:  # fmt: skip
        """回访, once, after closing."""
        return await decisions.return_visit(
            db_session, caller, order_id, data, _wt(state), now_ms(state)
        )

    @post("/orders/{order_id:int}/rating", guards=[requires_role(Role.CUSTOMER)],
          status_code=HTTP_200_OK, summary="Rate a closed order")  # fmt: skip
    async def rating(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id,
        data: JSONBody[OrderRating],
    ) -> OrderDetail:  # fmt: skip
        """Satisfaction 1–5 from the customer, once."""
        return await decisions.rate(db_session, caller, order_id, data, _wt(state), now_ms(state))

    @post("/orders/sweep", guards=[requires_role(Role.SUPERVISOR, Role.ADMIN)],
          status_code=HTTP_200_OK, summary="Apply passed deadlines now")  # fmt: skip
    async def sweep(self, db_session: DbSession, state: State) -> SweepResult:
        """What the background sweep does every minute: push on or escalate overdue nodes."""
        return await decisions.sweep(db_session, _wt(state), now_ms(state))

    @get("/customers", guards=[requires_role(*BACK_OFFICE)], summary="Intake's customer search")
    async def customers(
        self, caller: CallerDep, db_session: DbSession, q: SearchText,
        by: FromQuery[service.SearchBy] = "any", limit: Limit = 20, offset: Offset = 0,
    ) -> list[CustomerHit]:  # fmt: skip
        """Within the caller's scope, by customer number, ``limit`` (20) from ``offset``.
        ``by=any`` (the default): the customer number, an account number or the phone whole,
        or a name holding ``q`` — each from an index; ``by=address``: addresses holding ``q``
        (a scan)."""
        return await service.search_customers(db_session, caller, q, by, limit, offset)

    @get("/staff", guards=[requires_role(*BACK_OFFICE)], summary="Who can own or work orders")
    async def staff(
        self, db_session: DbSession, role: FromQuery[Role | None] = None
    ) -> list[Person]:
        return await service.staff(db_session, role)

    @post(
        "/photos", guards=[requires_role(Role.CUSTOMER)],
        responses=answers(TooLarge, UnsupportedMedia), summary="Upload a photo for a report",
    )  # fmt: skip
    async def upload_photo(
        self, caller: CallerDep, db_session: DbSession, state: State,
        request: Request[Any, Any, Any],
    ) -> Response[Photo]:  # fmt: skip
        """The raw image as the body, with the field photos' types and size limit
        (image/jpeg, image/png, image/webp; at most field_photo_max_bytes), stored the same
        way; then name it in the report as ``photo_sha256``."""
        limit = state.settings.field_photo_max_bytes
        data = bytearray()
        async for chunk in request.stream():
            data.extend(chunk)
            if len(data) > limit:  # stop reading: never buffer an oversized upload
                photos.check(bytes(data), None, limit)
        photo = await photos.store(
            db_session, state.settings.data_path, caller.user_id, bytes(data),
            request.headers.get("content-type"), limit,
        )  # fmt: skip
        return Response(photo, status_code=HTTP_201_CREATED)

    @get("/orders/{order_id:int}/photo", guards=[requires_role(*EVERYONE)],
         summary="The photo of a report (the image bytes)")  # fmt: skip
    async def order_photo(
        self, caller: CallerDep, db_session: DbSession, state: State, order_id: Id
    ) -> Response[bytes]:
        """For whoever sees the order (its customer, the staff in scope)."""
        row = await service.find_order(db_session, caller, order_id)
        found = await db_session.get(FieldPhoto, row.photo_sha256) if row.photo_sha256 else None
        if found is None:
            raise NotFound(ErrorCode.PHOTO_NOT_FOUND, f"work order {order_id} has no photo",
                           photo=str(order_id))  # fmt: skip
        return Response(
            photos.load(state.settings.data_path, found), media_type=found.content_type,
            headers={"Cache-Control": "private, max-age=31536000, immutable"},
        )  # fmt: skip
