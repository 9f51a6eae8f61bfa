"""Prepaid under /api: the customer's balance, ledger, top-ups, notices and supply
(/api/accounts/{id}/…), and the operators' arrears, disconnect queue and payment-to-restore
times (/api/prepaid/…). Every account is looked up within the caller's scope: another
customer's account is 404."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Response, get, post
from litestar.datastructures import State
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
from backend.errors import Conflict, Invalid, Unprocessable
from backend.errors import ErrorCode as E
from backend.paging import FromTime, Id, Limit, Offset, ToTime, parse_time
from backend.prepaid import service as prepaid
from backend.prepaid import topups
from backend.prepaid.models import Channel
from backend.prepaid.schemas import (
    ArrearsPage,
    BalanceOut,
    LedgerPage,
    NoticePage,
    QueuePage,
    RestoreTimes,
    SupplyOut,
)
from backend.types import utcnow

IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key", min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$",
        description="one per payment, made by the client; a retry sends the same key and body",
    ),
]  # fmt: skip
PAYERS = (Role.CUSTOMER, Role.OPERATOR, Role.ADMIN)  # 收费: the customer online, or the counter
ONLINE = frozenset({Channel.APP, Channel.WECHAT, Channel.ALIPAY})


class PrepaidAccountController(ApiController):
    path = "/api/accounts"
    tags = ("prepaid",)

    @get("/{account_id:int}/balance", guards=[requires_role(*EVERYONE)], summary="Balance")
    async def balance(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, state: State
    ) -> BalanceOut:
        """Balance, credit, average daily spend and days of credit left."""
        account = await service.get_account(db_session, caller, account_id)
        return await prepaid.balance(db_session, account, state.settings, utcnow())

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
        self, data: JSONBody[topups.TopUpIn], caller: CallerDep, db_session: DbSession,
        account_id: Id, idempotency_key: IdempotencyKey, state: State,
    ) -> Response[topups.Receipt]:  # fmt: skip
        """购电. Same ``Idempotency-Key`` and body: the same receipt again (header
        ``Idempotent-Replayed: true``); same key, other body: 422; while the first request
        with the key is still running: 409. Customers pay online (app, wechat, alipay); the
        counter and the bank are recorded by staff. Supply is restored by itself once the
        balance is back to zero or above."""
        account = await service.get_account(db_session, caller, account_id)
        if caller.role is Role.CUSTOMER and data.channel not in ONLINE:
            raise Invalid(
                E.CHANNEL_STAFF_ONLY, f"{data.channel.value} payments are recorded by staff; "
                "use app, wechat or alipay", field="channel", channel=data.channel.value,
            )  # fmt: skip
        try:
            status, body, replayed = await topups.top_up(
                state.sessions, account, idempotency_key, data, actor=caller.username,
                tz=ZoneInfo(state.settings.timezone),
            )  # fmt: skip
        except topups.KeyReused as exc:
            raise Unprocessable(E.IDEMPOTENCY_KEY_REUSED, str(exc)) from None
        except topups.KeyInProgress as exc:
            raise Conflict(E.PAYMENT_IN_PROGRESS, str(exc)) from None
        if await prepaid.restore_after_payment(state.sessions, state.settings, body):
            wake_dispatcher(state)
        return Response(
            content=body,  # type: ignore[arg-type]  # the stored bytes, replayed as they are
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
