"""Changes to an account after energisation, each carried by a work order on the service-desk
engine (its own kind and workflow in ``workflows.toml``).

Rules:

* **Requested, then approved.** A customer requests a change on their own account (another's
  is 404), or staff request it at the counter; an operator approves it, which applies it to
  the account and closes its work order in the same transaction, or rejects it with a reason.
* **Idempotent.** A request carries an ``Idempotency-Key``, unique per requester in the
  database: the same key and body again (or twice at once) is one change; the same key with
  another body is 422. One open change of a kind per account at a time (409
  ``change_pending``). Approval is a compare-and-set on the change's status: of two operators
  approving at once, one applies it, the other gets 409 ``change_decided``.
* **History kept.** A change row records ``before`` and ``after`` and its effective day and is
  never rewritten once applied; billing reads the category history from these rows
  (``history.category_moves``), so a change dated in the past re-rates the account from that
  day's local midnight and the ledger ends equal to the exact bill.
* **Closure (销户)**: the final bill is the readings that arrived (each meter's last accepted
  reading is recorded as its final reading), a credit is refunded (a REFUND entry) or moved to
  another open account of the same customer (a pair of adjustment entries), an account in
  arrears is refused until paid, the meters are marked removed and the account closed; a
  closed account takes no money (409 ``account_closed``).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer, CustomerCategory
from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.auth.scope import account_scope
from backend.errors import Conflict, Invalid, NotFound, Unprocessable
from backend.errors import ErrorCode as E
from backend.expansion.changes import contract, settle
from backend.expansion.changes.history import category_moves, category_on
from backend.expansion.changes.models import (
    AccountChange,
    ChangeKind,
    ChangeStatus,
    ChangeText,
    Settlement,
)
from backend.expansion.changes.schemas import (
    CapacityIn,
    CategoryChangeIn,
    Change,
    ChangeIn,
    ChangePage,
    ChangeReject,
    ClosureIn,
    MoveIn,
    NameChangeIn,
    OwnershipIn,
    ResumptionIn,
    SuspensionIn,
    TemporaryIn,
)
from backend.prepaid import billing, ledger
from backend.servicedesk.orders.models import (
    OrderEvent,
    OrderStatus,
    StepOutcome,
    WorkOrder,
    WorkOrderStep,
)
from backend.servicedesk.orders.service import entry, node_step
from backend.servicedesk.workflow.models import OrderChannel, OrderKind
from backend.servicedesk.workflow.service import WorkingTime
from backend.tariffs import service as tariffs
from backend.tariffs.model import TariffError
from backend.tariffs.models import TariffAssignment
from backend.texts import Param, Text
from backend.types import from_epoch_ms, local_day, midnight_ms, to_epoch_ms

ORDER_KIND = {
    ChangeKind.CATEGORY: OrderKind.CATEGORY_CHANGE,
    ChangeKind.CLOSURE: OrderKind.CLOSURE,
    ChangeKind.OWNERSHIP: OrderKind.OWNERSHIP,
    ChangeKind.NAME: OrderKind.NAME_CHANGE,
    ChangeKind.CAPACITY: OrderKind.CAPACITY,
    ChangeKind.SUSPENSION: OrderKind.SUSPENSION,
    ChangeKind.RESUMPTION: OrderKind.SUSPENSION,
    ChangeKind.MOVE: OrderKind.MOVE,
    ChangeKind.TEMPORARY: OrderKind.TEMPORARY,
}
MAX_TEMPORARY_DAYS = 3 * 365  # 临时用电: at most three years (供电营业规则 §12)
KIND_OF = {
    CategoryChangeIn: ChangeKind.CATEGORY,
    ClosureIn: ChangeKind.CLOSURE,
    OwnershipIn: ChangeKind.OWNERSHIP,
    NameChangeIn: ChangeKind.NAME,
    CapacityIn: ChangeKind.CAPACITY,
    SuspensionIn: ChangeKind.SUSPENSION,
    ResumptionIn: ChangeKind.RESUMPTION,
    MoveIn: ChangeKind.MOVE,
    TemporaryIn: ChangeKind.TEMPORARY,
}


# -- reading ---------------------------------------------------------------------------------


def _scope(caller: Caller) -> ColumnElement[bool]:
    return AccountChange.account_id.in_(select(Account.id).where(account_scope(caller)))


def change_view(row: AccountChange, account_number: str) -> Change:
    return Change(
        id=row.id,
        account_id=row.account_id,
        account_number=account_number,
        kind=row.kind,
        status=row.status,
        effective_from=row.effective_from,
        before=_params(row.before),
        after=_params(row.after),
        note=row.note,
        order_id=row.order_id,
        requested_at=to_epoch_ms(row.created_at),
        decided_at=to_epoch_ms(row.decided_at) if row.decided_at else None,
        reason=row.reason,
    )


def _params(d: dict[str, object]) -> dict[str, Param]:
    return {k: v for k, v in d.items() if v is None or isinstance(v, str | int | float | bool)}


async def _view(session: AsyncSession, row: AccountChange) -> Change:
    number = await session.scalar(select(Account.number).where(Account.id == row.account_id))
    return change_view(row, number or "")


async def find_change(session: AsyncSession, caller: Caller, change_id: int) -> AccountChange:
    row = await session.scalar(
        select(AccountChange).where(AccountChange.id == change_id, _scope(caller))
    )
    if row is None:
        raise NotFound(E.CHANGE_NOT_FOUND, f"change {change_id} not found", change=change_id)
    return row


async def get_change(session: AsyncSession, caller: Caller, change_id: int) -> Change:
    return await _view(session, await find_change(session, caller, change_id))


async def list_changes(
    session: AsyncSession,
    caller: Caller,
    *,
    account_id: int | None,
    status: ChangeStatus | None,
    limit: int,
    offset: int,
) -> ChangePage:
    """Requested changes first (oldest first: the queue), then the decided, newest first."""
    conds = [_scope(caller)]
    if account_id is not None:
        conds.append(AccountChange.account_id == account_id)
    if status is not None:
        conds.append(AccountChange.status == status)
    total = await session.scalar(select(func.count()).select_from(AccountChange).where(*conds))
    rows = (
        await session.execute(
            select(AccountChange, Account.number)
            .join(Account, Account.id == AccountChange.account_id)
            .where(*conds)
            .order_by(
                AccountChange.status.desc(),
                AccountChange.created_at.desc(),
                AccountChange.id.desc(),
            )
            .limit(limit)
            .offset(offset)
        )
    ).all()
    items = [change_view(r, n) for r, n in rows]
    items.sort(key=lambda c: c.status is not ChangeStatus.REQUESTED)  # stable: the queue first
    return ChangePage(items=items, total=total or 0)


# -- checks ----------------------------------------------------------------------------------


async def _account(session: AsyncSession, caller: Caller, account_id: int) -> Account:
    a = await session.scalar(select(Account).where(Account.id == account_id, account_scope(caller)))
    if a is None:
        raise NotFound(
            E.ACCOUNT_NOT_FOUND,
            f"account {account_id} not found",
            field="account_id",
            account=account_id,
        )
    return a


def _open(account: Account) -> None:
    if account.closed_at is not None:
        raise Conflict(E.ACCOUNT_CLOSED, f"account {account.id} is closed", account=account.id)


async def _check_category(
    session: AsyncSession,
    account: Account,
    body: CategoryChangeIn,
    today: date,
    applying: int | None = None,
) -> CustomerCategory:
    """The category the account has now; raises when the change cannot be made."""
    day = body.effective_from
    if day > today:
        raise Unprocessable(
            E.CHANGE_IN_FUTURE,
            f"{day.isoformat()} is after today",
            field="effective_from",
            day=day.isoformat(),
        )
    customer = await session.get(Customer, account.customer_id)
    assert customer is not None
    others = await session.scalar(
        select(func.count())
        .select_from(Account)
        .where(
            Account.customer_id == customer.id,
            Account.id != account.id,
            Account.closed_at.is_(None),
        )
    )
    if others:  # the category is the customer's: changing it would re-bill the other accounts
        raise Unprocessable(
            E.CATEGORY_SHARED,
            f"customer {customer.id} has other accounts",
            field="account_id",
            customer=customer.id,
        )
    moves = [m for m in await category_moves(session, account.id) if m.change_id != applying]
    last = max(
        [m.day for m in moves]
        + list(
            await session.scalars(
                select(TariffAssignment.effective_from).where(
                    TariffAssignment.account_id == account.id
                )
            )
        ),
        default=None,
    )
    if last is not None and day <= last:
        raise Unprocessable(
            E.CHANGE_BEFORE_LAST,
            f"the account last changed on {last}",
            field="effective_from",
            day=last.isoformat(),
        )
    current = CustomerCategory(category_on(moves, customer.category, today))
    if body.category is current:
        raise Unprocessable(
            E.CHANGE_NO_EFFECT,
            f"the account is {current.value} already",
            field="category",
            category=current.value,
        )
    if body.category.value not in await tariffs.schedules(session):
        raise Unprocessable(
            E.TARIFF_SCHEDULE_NOT_FOUND,
            f"no tariff for {body.category.value}",
            field="category",
            schedule=body.category.value,
        )
    return current


async def _transfer_target(
    session: AsyncSession, account: Account, body: ClosureIn
) -> Account | None:
    if body.settlement is not Settlement.TRANSFER:
        if body.transfer_to_account_id is not None:
            raise Invalid(
                E.INVALID_REQUEST,
                "transfer_to_account_id is for a transfer",
                field="transfer_to_account_id",
            )
        return None
    target = (
        await session.get(Account, body.transfer_to_account_id)
        if body.transfer_to_account_id is not None
        else None
    )
    if (
        target is None
        or target.id == account.id
        or target.customer_id != account.customer_id
        or target.closed_at is not None
    ):  # only to another open account of the same customer
        raise Invalid(
            E.ACCOUNT_NOT_FOUND,
            "transfer_to_account_id: no such open account of the customer",
            field="transfer_to_account_id",
            account=body.transfer_to_account_id or 0,
        )
    return target


# -- request ---------------------------------------------------------------------------------


def _hash(body: ChangeIn) -> str:
    tagged = {"kind": type(body).__name__, **msgspec.to_builtins(body)}
    return hashlib.sha256(msgspec.json.encode(tagged, order="sorted")).hexdigest()


async def _sides(
    session: AsyncSession, account: Account, body: ChangeIn, today: date
) -> tuple[date, dict[str, object], dict[str, object]]:
    """The change's effective day, ``before`` and ``after``; raises when it cannot be made."""
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    if isinstance(body, CategoryChangeIn):
        current = await _check_category(session, account, body, today)
        effective, before, after = (
            body.effective_from,
            {"category": current.value},
            {"category": body.category.value},
        )
    elif isinstance(body, NameChangeIn | CapacityIn | SuspensionIn | ResumptionIn):
        effective = body.effective_from
        before, after = await contract.check(session, account, body, today)
    elif isinstance(body, TemporaryIn):
        effective = today
        if not today <= body.until <= today + timedelta(days=MAX_TEMPORARY_DAYS):
            raise Unprocessable(
                E.TEMPORARY_END, f"{body.until.isoformat()}: today to {MAX_TEMPORARY_DAYS} days on",
                field="until", day=body.until.isoformat(),
                max_day=(today + timedelta(days=MAX_TEMPORARY_DAYS)).isoformat(),
            )  # fmt: skip
        after = {"until": body.until.isoformat()}
    elif isinstance(body, MoveIn):
        customer = await session.get(Customer, account.customer_id)
        assert customer is not None
        effective = today  # the final reading is the meter's at the approval
        before = {"address": customer.address}
        after = {"address": body.address, "settlement": body.settlement}
    elif isinstance(body, ClosureIn):
        target = await _transfer_target(session, account, body)
        effective = today
        after = {
            "settlement": body.settlement.value,
            "transfer_to_account_id": target.id if target else None,
        }
    else:
        if body.effective_from > today:
            raise Unprocessable(
                E.CHANGE_IN_FUTURE, f"{body.effective_from.isoformat()} is after today",
                field="effective_from", day=body.effective_from.isoformat(),
            )  # fmt: skip
        holder = await session.get(Customer, account.customer_id)
        assert holder is not None
        effective = body.effective_from
        before = {"customer_id": holder.id, "customer_number": holder.number,
                  "holder_name": holder.name}  # fmt: skip
        after = {"holder_name": body.holder_name, "holder_phone": body.holder_phone,
                 "settlement": body.settlement}  # fmt: skip
    return effective, before, after


async def request_change(
    session: AsyncSession,
    caller: Caller,
    key: str,
    body: ChangeIn,
    wt: WorkingTime,
    now_ms: int,
    tz: ZoneInfo,
) -> tuple[Change, bool]:
    """(the change, True) when made now; (the same change, False) for a repeat of the key."""
    digest = _hash(body)
    found = await session.scalar(
        select(AccountChange).where(
            AccountChange.requested_by == caller.user_id, AccountChange.idempotency_key == key
        )
    )
    if found is not None:
        if found.request_hash != digest:
            raise Unprocessable(
                E.CHANGE_KEY_REUSED, "Idempotency-Key was already used for another change"
            )
        return await _view(session, found), False
    account = await _account(session, caller, body.account_id)
    _open(account)
    kind = KIND_OF[type(body)]
    pending = await session.scalar(
        select(AccountChange.id).where(
            AccountChange.account_id == account.id,
            AccountChange.kind == kind,
            AccountChange.status == ChangeStatus.REQUESTED,
        )
    )
    if pending is not None:
        raise Conflict(
            E.CHANGE_PENDING,
            f"change {pending} of this kind is waiting",
            change=pending,
            kind=kind.value,
        )
    effective, before, after = await _sides(session, account, body, local_day(now_ms, tz))
    now = from_epoch_ms(now_ms)
    try:  # the same key at the same moment: the other request made it (order or change)
        order = await _order(
            session, caller, account, ORDER_KIND[kind], body.note, key, digest, wt, now
        )
        row = AccountChange(
            account_id=account.id, kind=kind, status=ChangeStatus.REQUESTED,
            effective_from=effective, before=before, after=after, note=body.note,
            order_id=order.id, requested_by=caller.user_id, idempotency_key=key,
            request_hash=digest, created_at=now, reason="",
        )  # fmt: skip
        session.add(row)
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return await request_change(session, caller, key, body, wt, now_ms, tz)
    return await _view(session, row), True


async def _order(
    session: AsyncSession,
    caller: Caller,
    account: Account,
    kind: OrderKind,
    note: str,
    key: str,
    digest: str,
    wt: WorkingTime,
    now: datetime,
) -> WorkOrder:
    """The change's work order, in the caller's transaction (not committed)."""
    customer = await session.get(Customer, account.customer_id)
    assert customer is not None
    first = wt.book.of(kind).nodes[0]
    staff = caller.role is not Role.CUSTOMER
    row = WorkOrder(
        kind=kind,
        channel=OrderChannel.COUNTER if staff else OrderChannel.PWA,
        customer_id=customer.id,
        account_id=account.id,
        transformer_area_id=customer.transformer_area_id,
        contact_name=customer.name,
        contact_phone=customer.phone,
        location=customer.address,
        description=note or kind.value,
        created_by=caller.user_id,
        owner_id=caller.user_id if staff else None,
        node=first.key,
        node_started_at=now,
        node_due_at=wt.due(first, now),
        idempotency_key=f"change:{key}",
        request_hash=digest,
        created_at=now,
        status=OrderStatus.OPEN,
        version=1,
        transfers=0,
        escalated=False,
        result="",
        first_contact_resolved=False,
        return_visit_note="",
        rating_comment="",
    )
    session.add(row)
    await session.flush()
    session.add(node_step(row.id, first, now, wt))
    session.add(
        entry(
            row.id,
            now,
            caller.user_id,
            OrderEvent.CREATED,
            first.key,
            kind=kind.value,
            channel=row.channel.value,
        )
    )
    return row


# -- decisions -------------------------------------------------------------------------------


async def _decide(
    session: AsyncSession,
    caller: Caller,
    row: AccountChange,
    status: ChangeStatus,
    now: datetime,
    reason: str = "",
) -> None:
    """The compare-and-set: the change leaves ``requested`` once; a second decision is 409."""
    change_id = row.id  # a rollback expires the row
    done = await session.execute(
        update(AccountChange)
        .where(AccountChange.id == change_id, AccountChange.status == ChangeStatus.REQUESTED)
        .values(status=status, decided_by=caller.user_id, decided_at=now, reason=reason)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        current = await session.scalar(
            select(AccountChange.status).where(AccountChange.id == change_id)
        )
        raise Conflict(
            E.CHANGE_DECIDED,
            f"change {change_id} was decided already",
            change=change_id,
            status=str(current),
        )


async def _close_order(
    session: AsyncSession, caller: Caller, order_id: int, result: Text, now: datetime
) -> None:
    """Close the change's work order with a result code, in the same transaction."""
    order = await session.get(WorkOrder, order_id)
    if order is None or order.status is not OrderStatus.OPEN:
        return  # closed by hand meanwhile: the change still stands
    await session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == order_id, WorkOrder.status == OrderStatus.OPEN)
        .values(
            status=OrderStatus.CLOSED,
            result=result.code,
            closed_at=now,
            closed_by=caller.user_id,
            owner_id=func.coalesce(WorkOrder.owner_id, caller.user_id),
            escalated=False,
            version=WorkOrder.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(WorkOrderStep)
        .where(WorkOrderStep.order_id == order_id, WorkOrderStep.finished_at.is_(None))
        .values(finished_at=now, finished_by=caller.user_id, outcome=StepOutcome.CLOSED)
        .execution_options(synchronize_session=False)
    )
    session.add(
        entry(
            order_id,
            now,
            caller.user_id,
            OrderEvent.CLOSED,
            order.node,
            result=result.code,
            **result.params,
        )
    )


async def approve(
    session: AsyncSession,
    caller: Caller,
    change_id: int,
    now_ms: int,
    tz: ZoneInfo,
    *,
    bill: bool,
) -> Change:
    """Apply the change to the account and close its order, in one transaction. ``bill``:
    billing runs in this process (a past-dated category change re-rates, a closure bills
    what arrived before settling)."""
    row = await find_change(session, caller, change_id)
    kind, order_id = row.kind, row.order_id  # row expires when billing re-reads the account
    now = from_epoch_ms(now_ms)
    await _decide(session, caller, row, ChangeStatus.APPLIED, now)
    try:
        account = await ledger.lock_account(session, row.account_id)
        _open(account)
        if kind is ChangeKind.CATEGORY:
            await _apply_category(session, account, row, now_ms, tz, bill=bill)
        elif kind in contract.KINDS:
            await contract.apply(session, account, row, local_day(now_ms, tz))
        elif kind is ChangeKind.TEMPORARY:
            pass  # the change itself is the record the sweep reads
        elif kind is ChangeKind.MOVE:
            await settle.apply_move(session, account, row, now, tz, bill=bill)
        elif kind is ChangeKind.CLOSURE:
            await settle.apply_closure(session, account, row, now, tz, bill=bill)
        else:
            await settle.apply_ownership(session, account, row, now, tz, bill=bill)
        await _close_order(
            session, caller, order_id, Text(ChangeText.APPLIED, {"change_kind": kind.value}), now
        )
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    session.expire_all()
    return await get_change(session, caller, change_id)


async def reject(
    session: AsyncSession, caller: Caller, change_id: int, body: ChangeReject, now_ms: int
) -> Change:
    row = await find_change(session, caller, change_id)
    now = from_epoch_ms(now_ms)
    await _decide(session, caller, row, ChangeStatus.REJECTED, now, body.reason)
    await _close_order(
        session, caller, row.order_id, Text(ChangeText.REJECTED, {"reason": body.reason}), now
    )
    await session.commit()
    session.expire_all()
    return await get_change(session, caller, change_id)


async def _apply_category(
    session: AsyncSession,
    account: Account,
    row: AccountChange,
    now_ms: int,
    tz: ZoneInfo,
    *,
    bill: bool,
) -> None:
    body = CategoryChangeIn(
        account_id=account.id,
        category=CustomerCategory(str(row.after["category"])),
        effective_from=row.effective_from,
    )
    account_id, day = account.id, row.effective_from  # both expire when billing re-reads
    # checked again: another change or assignment may have come since the request (this
    # row is applied already in this transaction, so the check leaves it out)
    current = await _check_category(session, account, body, local_day(now_ms, tz), row.id)
    await session.execute(
        update(AccountChange)
        .where(AccountChange.id == row.id)
        .values(before={"category": current.value})
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Customer)
        .where(Customer.id == account.customer_id)
        .values(category=body.category)
        .execution_options(synchronize_session=False)
    )
    if not bill:
        return
    # the day may be billed already: re-rate from its local midnight (reversals, new charges)
    since = midnight_ms(day, tz)
    meters = await tariffs.meters_of(session, account_id)
    session.expire_all()
    try:
        for pk in meters:
            await billing.bill_account(session, account_id, tz, meter_pk=pk, min_ts=since)
    except TariffError as exc:
        raise Unprocessable(
            E.TARIFF_NOT_IN_FORCE,
            str(exc),
            field="effective_from",
            schedule=body.category.value,
            day=day.isoformat(),
        ) from None
