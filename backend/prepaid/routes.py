"""Prepaid under /api: the customer's balance, ledger, top-ups, notices and supply
(/api/accounts/{id}/…), and the operators' arrears, disconnect queue and payment-to-restore
times (/api/prepaid/…). Every account is looked up within the caller's scope: another
customer's account is 404."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from litestar import Request, Response, get, post
from litestar.datastructures import State
from litestar.exceptions import ValidationException
from litestar.params import HeaderParameter, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from backend.accounts import service
from backend.auth.guards import (
    BACK_OFFICE,
    EVERYONE,
    STAFF,
    ApiController,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.auth.models import Role
from backend.commands.dispatch import wake_dispatcher
from backend.controllers import answers
from backend.errors import Conflict, Forbidden, Invalid, Unprocessable
from backend.errors import ErrorCode as E
from backend.paging import FromTime, Id, Limit, Offset, ToTime, parse_time
from backend.prepaid import service as prepaid
from backend.prepaid import topups
from backend.prepaid.models import Channel
from backend.prepaid.schemas import (
    ArrearsPage,
    BalanceOut,
    BodyError,
    LedgerPage,
    NoticePage,
    QueuePage,
    RestoreTimes,
    SupplyOut,
    decode_strict,
)
from backend.types import utcnow

T = TypeVar("T")

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key", min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="one per payment, made by the client; a retry sends the same key and body",
    ),
]  # fmt: skip
PAYERS = (Role.CUSTOMER, Role.OPERATOR, Role.ADMIN)  # 收费: the customer online, or the counter
ONLINE = frozenset({Channel.APP, Channel.WECHAT, Channel.ALIPAY})


def strict_body(request: Request[Any, Any, Any], raw: bytes, type_: type[T]) -> T:
    """The body decoded strictly (integer money), or litestar's 400 naming the field."""
    try:
        return decode_strict(raw, type_)
    except BodyError as exc:
        raise ValidationException(
            f"Validation failed for {request.method} {request.url.path}",
            extra=[{"key": exc.field, "message": exc.message, "source": "body"}],
        ) from None


class PrepaidAccountController(ApiController):
    path = "/api/accounts"
    tags = ("prepaid",)

    @get("/{account_id:int}/balance", guards=[requires_role(*EVERYONE)], summary="Balance")
    async def balance(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, state: State
    ) -> BalanceOut:
        """Balance, credit, average daily spend and days of credit left."""
        return await prepaid.scoped_balance(
            db_session, caller, account_id, state.settings, utcnow()
        )  # one statement: the scoped account joined with its recent charges

    @get("/{account_id:int}/ledger", guards=[requires_role(*EVERYONE)], summary="Ledger")
    async def ledger(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, limit: Limit = 50,
        offset: Offset = 0,
    ) -> LedgerPage:  # fmt: skip
        """Every movement of money, newest first, with the balance after each."""
        await service.get_account(db_session, caller, account_id)
        items, total = await prepaid.ledger_page(db_session, account_id, limit, offset)
        return LedgerPage(items, total, limit, offset)

    @post(
        "/{account_id:int}/topups", guards=[requires_role(*PAYERS)],
        status_code=HTTP_201_CREATED, responses=answers(Conflict, Unprocessable), summary="Top up",
    )  # fmt: skip
    async def top_up(
        self, data: JSONBody[topups.TopUpIn], request: Request[Any, Any, Any],
        caller: CallerDep, db_session: DbSession, account_id: Id,
        idempotency_key: IdempotencyKey, state: State,
    ) -> Response[topups.Receipt]:  # fmt: skip
        """缴费 at the counter or through a bank, recorded by staff with a receipt. Same
        ``Idempotency-Key`` and body: the same receipt again (header
        ``Idempotent-Replayed: true``); same key, other body: 422; while the first request
        with the key is still running: 409. Online money (app, wechat, alipay) is credited
        only by the provider's signed confirmation: customers start a payment order
        (``POST /api/accounts/{id}/payment-orders``), here they get 403. Amounts are integer
        fen (``"100"``, ``1e3``, ``100.0`` are refused, naming the field). Supply is restored
        by itself once the balance is back to zero or above."""
        body = strict_body(request, await request.body(), topups.TopUpIn)
        account = await service.get_account(db_session, caller, account_id)
        service.refuse_if_closed(account)
        await db_session.commit()  # hand the connection back: the top-up uses its own
        if caller.role is Role.CUSTOMER:
            raise Forbidden(
                E.CUSTOMERS_PAY_BY_ORDER, "customers pay online through a payment order; only "
                "the provider's confirmation credits the account", account=account_id,
            )  # fmt: skip
        if body.channel in ONLINE:
            raise Invalid(
                E.CHANNEL_CONFIRMED_BY_PROVIDER, f"{body.channel.value} payments are credited by "
                "the provider's confirmation, not entered by hand; use counter or bank",
                field="channel", channel=body.channel.value,
            )  # fmt: skip
        try:
            status, raw, replayed = await topups.top_up(
                state.sessions, account, idempotency_key, body, actor=caller.username,
                tz=ZoneInfo(state.settings.timezone),
            )  # fmt: skip
        except topups.KeyReused as exc:
            raise Unprocessable(E.IDEMPOTENCY_KEY_REUSED, str(exc)) from None
        except topups.KeyInProgress as exc:
            raise Conflict(E.PAYMENT_IN_PROGRESS, str(exc)) from None
        except topups.AccountClosed as exc:
            raise Conflict(E.ACCOUNT_CLOSED, str(exc), account=account_id) from None
        if await prepaid.restore_after_payment(state.sessions, state.settings, raw):
            wake_dispatcher(state)
        return Response(
            content=raw,  # type: ignore[arg-type]  # the stored bytes, replayed as they are
            status_code=status,
            media_type="application/json",
            headers={"Idempotent-Replayed": "true" if replayed else "false"},
        )

    @get("/{account_id:int}/notices", guards=[requires_role(*EVERYONE)], summary="Notices")
    async def notices(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, limit: Limit = 50,
        offset: Offset = 0,
    ) -> NoticePage:  # fmt: skip
        """Low-balance, disconnect-warning, disconnected and restored notices, newest first."""
        await service.get_account(db_session, caller, account_id)
        items, total = await prepaid.notices_page(db_session, account_id, limit, offset)
        return NoticePage(items, total, limit, offset)

    @get("/{account_id:int}/supply", guards=[requires_role(*EVERYONE)], summary="Supply state")
    async def supply(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, state: State
    ) -> SupplyOut:
        """Connected, disconnected or ready to reconnect, per meter and overall, and what to
        do about it (top up how much, press the meter's button, wait, or call 95598)."""
        account = await service.get_account(db_session, caller, account_id)
        return await prepaid.supply(db_session, account, state.settings, utcnow())


class PrepaidOperatorController(ApiController):
    path = "/api/prepaid"
    tags = ("prepaid",)

    @get("/arrears", guards=[requires_role(*STAFF)], summary="Accounts in arrears")
    async def arrears(
        self, caller: CallerDep, db_session: DbSession, limit: Limit = 50, offset: Offset = 0
    ) -> ArrearsPage:
        """Prepaid accounts below zero, most owed first; inspectors see their grids only."""
        items, total = await prepaid.arrears(db_session, caller, limit, offset)
        return ArrearsPage(items, total, limit, offset)

    @get("/disconnect-queue", guards=[requires_role(*BACK_OFFICE)], summary="Disconnect queue")
    async def disconnect_queue(
        self, db_session: DbSession, state: State, limit: Limit = 50, offset: Offset = 0
    ) -> QueuePage:
        """Accounts past the disconnect threshold with supply on, each with the policy's
        explanation: every rule's verdict and the earliest time a disconnect is allowed."""
        now = utcnow()
        items, total = await prepaid.disconnect_queue(
            db_session, state.settings, now, limit, offset
        )
        return QueuePage(items, total, limit, offset, now)

    @get("/restore-times", guards=[requires_role(*BACK_OFFICE)], summary="Payment-to-restore times")
    async def restore_times(
        self, db_session: DbSession, from_: FromTime = None, to: ToTime = None, limit: Limit = 50,
        offset: Offset = 0,
    ) -> RestoreTimes:  # fmt: skip
        """From payment to supply verified back (or armed), per restore and in summary;
        ``from``/``to`` bound the payment time."""
        since = parse_time(from_, "from") if from_ else None
        until = parse_time(to, "to") if to else None
        return await prepaid.restore_times(db_session, since, until, limit, offset)
