"""Online payments over HTTP.

* ``POST /api/accounts/{id}/payment-orders`` (customer, or staff for them): a pending order;
  ``GET …/payment-orders/{order_no}``: its state (pending → paid, or expired).
* ``POST /api/payments/notify/{provider}`` (public: the provider calls it): the signed
  notification that alone credits the ledger.
* ``POST /api/accounts/{id}/payment-orders/{order_no}/simulated-payment``: only with
  ``METERLINE_PAYMENTS_PROVIDER=simulated`` (the demo): the simulated wallet pays the order,
  signing its notification as WeChat Pay v3 does and handing it to the same code as the
  webhook.
* ``GET /api/payments/notifications``, ``POST /api/payments/reconcile``: for operators.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import FromPath, HeaderParameter, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from backend.accounts import service as accounts
from backend.auth.guards import (
    BACK_OFFICE,
    OPERATORS,
    PUBLIC,
    ApiController,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.auth.models import Role
from backend.commands.dispatch import wake_dispatcher
from backend.controllers import answers
from backend.errors import ErrorCode as E
from backend.errors import Invalid, NotFound, Unprocessable
from backend.paging import Id
from backend.prepaid import service as prepaid
from backend.prepaid.models import NotificationOutcome, OrderStatus, PaymentProvider
from backend.prepaid.payments import service
from backend.prepaid.payments.providers.wechat import BillError, parse_trade_bill
from backend.prepaid.payments.schemas import NotificationCounts, OrderIn, OrderOut, Reconciliation
from backend.prepaid.schemas import BodyError, decode_strict
from backend.types import utcnow

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key", min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="one per payment intent, made by the client when the form opens",
    ),
]  # fmt: skip
OrderNo = Annotated[str, PathParameter(min_length=6, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
PAYERS = (Role.CUSTOMER, Role.OPERATOR, Role.ADMIN)
MAX_NOTIFICATION = 64 * 1024
MAX_STATEMENT = 16 * 1024 * 1024


def strict(request: Request[Any, Any, Any], raw: bytes, type_: type[OrderIn]) -> OrderIn:
    try:
        return decode_strict(raw, type_)
    except BodyError as exc:
        raise ValidationException(
            f"Validation failed for {request.method} {request.url.path}",
            extra=[{"key": exc.field, "message": exc.message, "source": "body"}],
        ) from None


async def _after_credit(state: State, received: service.Received) -> None:
    if received.outcome is not NotificationOutcome.CREDITED:
        return
    assert received.account_id is not None
    assert received.paid_at is not None
    if await prepaid.restore_for(
        state.sessions, state.settings, received.account_id, received.paid_at
    ):
        wake_dispatcher(state)


class PaymentOrderController(ApiController):
    path = "/api/accounts"
    tags = ("payments",)

    @post(
        "/{account_id:int}/payment-orders", guards=[requires_role(*PAYERS)],
        status_code=HTTP_201_CREATED, responses=answers(Invalid, Unprocessable),
        summary="Start an online payment",
    )  # fmt: skip
    async def create(
        self, data: JSONBody[OrderIn], request: Request[Any, Any, Any], caller: CallerDep,
        db_session: DbSession, account_id: Id, idempotency_key: IdempotencyKey, state: State,
    ) -> Response[OrderOut]:  # fmt: skip
        """A pending payment order: nothing is credited until the provider confirms it.
        The same ``Idempotency-Key`` and body answers the same order
        (``Idempotent-Replayed: true``); another body with the key: 422. Amounts are integer
        fen (``"100"``, ``1e3``, ``100.0`` are refused, naming the field)."""
        body = strict(request, await request.body(), OrderIn)
        account = await accounts.get_account(db_session, caller, account_id)
        accounts.refuse_if_closed(account)
        await db_session.commit()  # hand the connection back before the work
        try:
            order, replayed = await service.create_order(
                state.sessions, state.settings, account, idempotency_key, body,
                actor=caller.username, now=utcnow(),
            )  # fmt: skip
        except service.PaymentsOff as exc:
            raise Invalid(E.PAYMENTS_OFF, str(exc), field="channel") from None
        except service.OrderKeyReused as exc:
            raise Unprocessable(E.IDEMPOTENCY_KEY_REUSED, str(exc)) from None
        return Response(
            order, status_code=HTTP_201_CREATED,
            headers={"Idempotent-Replayed": "true" if replayed else "false"},
        )  # fmt: skip

    @get(
        "/{account_id:int}/payment-orders/{order_no:str}", guards=[requires_role(*PAYERS)],
        summary="A payment order's state",
    )  # fmt: skip
    async def order(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, order_no: OrderNo
    ) -> OrderOut:
        """Pending until the provider confirms (then paid, with the receipt number and the
        balance after), or expired."""
        await accounts.get_account(db_session, caller, account_id)
        found = await service.get_order(db_session, account_id, order_no, utcnow())
        if found is None:
            raise NotFound(
                E.PAYMENT_ORDER_NOT_FOUND, f"payment order {order_no} not found", order=order_no
            )
        return service.order_out(found)

    @post(
        "/{account_id:int}/payment-orders/{order_no:str}/simulated-payment",
        guards=[requires_role(*PAYERS)], status_code=HTTP_200_OK,
        summary="Pay an order with the simulated wallet (demo only)",
    )  # fmt: skip
    async def simulated_payment(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, order_no: OrderNo,
        state: State,
    ) -> OrderOut:  # fmt: skip
        """Plays the customer's wallet: the simulated provider signs the payment notification
        exactly as WeChat Pay v3 would and posts it to the notification handler. 404 unless
        ``METERLINE_PAYMENTS_PROVIDER=simulated``."""
        if PaymentProvider.SIMULATED not in service.enabled(state.settings):
            raise NotFound(
                E.PAYMENT_PROVIDER_NOT_FOUND,
                "the simulated wallet is not enabled here",
                provider="simulated",
            )
        await accounts.get_account(db_session, caller, account_id)
        now = utcnow()
        found = await service.get_order(db_session, account_id, order_no, now)
        await db_session.commit()
        if found is None or found.provider is not PaymentProvider.SIMULATED:
            raise NotFound(
                E.PAYMENT_ORDER_NOT_FOUND, f"payment order {order_no} not found", order=order_no
            )
        if found.status is OrderStatus.PENDING:
            headers, body = service.wallet(state.settings).notification(
                order_no=found.order_no, amount_fen=found.amount_fen, paid_at=now, now=now,
                transaction_id=f"4200{now:%Y%m%d}{secrets.randbelow(10**16):016d}",
            )  # fmt: skip
            received = await service.receive(
                state.sessions, state.settings, PaymentProvider.SIMULATED, headers, body, now
            )
            await _after_credit(state, received)
        async with state.sessions() as s:
            again = await service.get_order(s, account_id, order_no, utcnow())
            assert again is not None
            return service.order_out(again)


class PaymentNotifyController(ApiController):
    path = "/api/payments/notify"
    tags = ("payments",)
    security = []  # noqa: RUF012 - the provider signs its requests instead

    @post(
        "/{provider:str}", opt={PUBLIC: True}, status_code=HTTP_200_OK,
        request_max_body_size=MAX_NOTIFICATION, summary="Payment provider notification",
    )  # fmt: skip
    async def notify(
        self, request: Request[Any, Any, Any], provider: FromPath[str], state: State
    ) -> Response[bytes]:
        """Called by the payment provider (WeChat Pay v3: JSON, signed headers; Alipay:
        form-encoded RSA2). Only a notification that verifies credits its order, once;
        refused ones are answered as the provider expects and counted by reason."""
        try:
            name = PaymentProvider(provider)
            received = await service.receive(
                state.sessions, state.settings, name, dict(request.headers),
                await request.body(), utcnow(),
            )  # fmt: skip
        except (ValueError, service.PaymentsOff):
            raise NotFound(
                E.PAYMENT_PROVIDER_NOT_FOUND,
                f"no payment provider {provider[:20]!r} here",
                provider=provider[:20],
            ) from None
        await _after_credit(state, received)
        a = received.answer
        return Response(a.body, status_code=a.status, media_type=a.media_type)


class PaymentOperatorController(ApiController):
    path = "/api/payments"
    tags = ("payments",)

    @get("/notifications", guards=[requires_role(*BACK_OFFICE)], summary="Notification counts")
    async def notifications(self, db_session: DbSession) -> NotificationCounts:
        """Notifications credited, duplicates acknowledged, and refused ones per provider and
        reason (bad signature, replay, amount mismatch, unknown order, …)."""
        return await service.notification_counts(db_session)

    @post(
        "/reconcile", guards=[requires_role(*OPERATORS)], status_code=HTTP_200_OK,
        request_max_body_size=MAX_STATEMENT, summary="Reconcile a provider statement",
    )  # fmt: skip
    async def reconcile(
        self, request: Request[Any, Any, Any], db_session: DbSession,
        provider: Annotated[PaymentProvider, QueryParameter()] = PaymentProvider.WECHAT,
        day: Annotated[date | None, QueryParameter(name="date")] = None,
    ) -> Reconciliation:  # fmt: skip
        """The body is the provider's trade bill as text (WeChat Pay format, backtick-prefixed
        fields; the simulated provider writes the same); the answer lists every difference
        with the ledger for the bill's Beijing days (or ``date``)."""
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid(
                E.STATEMENT_NOT_TEXT, "the statement is not UTF-8 text", field="body"
            ) from None
        try:
            lines, skipped = parse_trade_bill(text)
            return await service.reconcile(
                db_session, provider, lines, skipped, [day] if day else None
            )
        except (BillError, service.ReconcileError) as exc:
            raise Invalid(E.STATEMENT_INVALID, str(exc), field="body") from None
