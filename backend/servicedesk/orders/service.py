"""Work orders: intake from every channel, first-contact ownership, moving through the
workflow, links to repair jobs and outages, close, return visit and rating.

Rules:

* **Idempotent intake.** Creation carries the client's ``Idempotency-Key``; the key is unique
  per creator in the database, so a double submission (twice, or twice at once) is one order:
  the same key and body answer the same order again, the same key with another body is 422.
* **First-contact ownership (首问负责制, R67).** Staff who take an order own it; an order a
  customer reports from the app is owned by the first staff member who takes it. Only the
  owner (or a supervisor) closes or transfers it; a transfer is explicit, has a reason and is
  on the timeline.
* **Compare-and-set.** Every decision names the ``version`` the person saw and is an
  ``UPDATE … WHERE version = :seen``: two operators acting at once yield one effect, the other
  gets 409 ``order_changed``.
* **Scope.** A customer sees only their own orders; an inspector the orders they own, took or
  were dispatched to; the back office all. Anything else is 404.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer
from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.errors import Conflict, Forbidden, Invalid, NotFound, Unprocessable
from backend.errors import ErrorCode as E
from backend.metering.models import Meter
from backend.servicedesk.models import OutageNotice
from backend.servicedesk.orders.models import (
    OrderEvent,
    OrderStatus,
    StepOutcome,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderStep,
)
from backend.servicedesk.orders.schemas import (
    AccountHit,
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
from backend.servicedesk.orders.views import detail_view, order_views
from backend.servicedesk.workflow.models import DoneBy, OrderChannel, OrderKind, TimeoutAction
from backend.servicedesk.workflow.schemas import Node
from backend.servicedesk.workflow.service import WorkingTime
from backend.texts import Param
from backend.types import from_epoch_ms, to_epoch_ms

SUPERVISING = frozenset({Role.SUPERVISOR, Role.ADMIN})
OWNERS = frozenset({Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.INSPECTOR})


# -- scope -----------------------------------------------------------------------------------


def order_scope(caller: Caller) -> ColumnElement[bool]:
    if caller.unscoped:
        return WorkOrder.id.is_not(None)
    if caller.role is Role.CUSTOMER:
        return WorkOrder.customer_id == (caller.customer_id or -1)
    me = caller.user_id
    return or_(WorkOrder.owner_id == me, WorkOrder.crew_id == me, WorkOrder.created_by == me)


async def _order(session: AsyncSession, caller: Caller, order_id: int) -> WorkOrder:
    row = await session.scalar(
        select(WorkOrder).where(WorkOrder.id == order_id, order_scope(caller))
    )
    if row is None:
        raise NotFound(E.ORDER_NOT_FOUND, f"work order {order_id} not found", order=order_id)
    return row


# -- intake ----------------------------------------------------------------------------------


def _hash(body: OrderIntake | OrderReport) -> str:
    tagged = {"op": type(body).__name__, **msgspec.to_builtins(body)}
    return hashlib.sha256(msgspec.json.encode(tagged, order="sorted")).hexdigest()


class _Who(msgspec.Struct):
    customer: Customer | None = None
    account_id: int | None = None
    meter_pk: int | None = None


async def _resolve(session: AsyncSession, caller: Caller, body: OrderIntake | OrderReport) -> _Who:
    """Customer, account and meter, each checked against the others and the caller's scope."""
    who = _Who()
    customer_id = caller.customer_id if caller.role is Role.CUSTOMER else None
    if isinstance(body, OrderIntake):
        customer_id = body.customer_id
        if body.meter_id is not None:
            meter = await session.scalar(select(Meter).where(Meter.meter_id == body.meter_id))
            if meter is None:
                raise Invalid(E.METER_NOT_FOUND, f"meter {body.meter_id} not found",
                              field="meter_id", meter=body.meter_id)  # fmt: skip
            who.meter_pk = meter.id
            customer_id = customer_id or meter.customer_id
            who.account_id = meter.account_id
    if body.account_id is not None:
        account = await session.get(Account, body.account_id)
        if account is None or (customer_id is not None and account.customer_id != customer_id):
            raise (NotFound if caller.role is Role.CUSTOMER else Invalid)(
                E.ACCOUNT_NOT_FOUND, f"account {body.account_id} not found",
                field="account_id", account=body.account_id,
            )  # fmt: skip
        who.account_id = account.id
        customer_id = account.customer_id
    if customer_id is not None:
        who.customer = await session.get(Customer, customer_id)
        if who.customer is None:
            raise Invalid(E.CUSTOMER_NOT_FOUND, f"customer {customer_id} not found",
                          field="customer_id", customer=customer_id)  # fmt: skip
    return who


async def open_outage(
    session: AsyncSession, transformer_area_id: int | None, now: datetime
) -> OutageNotice | None:
    """A known outage on this transformer area right now (started, not ended, not cancelled)."""
    if transformer_area_id is None:
        return None
    return await session.scalar(
        select(OutageNotice)
        .where(
            OutageNotice.transformer_area_id == transformer_area_id,
            OutageNotice.cancelled.is_(False),
            OutageNotice.ended_at.is_(None),
            OutageNotice.starts_at <= now,
        )
        .order_by(OutageNotice.starts_at.desc(), OutageNotice.id.desc())
        .limit(1)
    )


def _event(
    order_id: int, at: datetime, actor: int | None, code: OrderEvent, at_node: str, /,
    **params: Param,
) -> WorkOrderEvent:  # fmt: skip
    return WorkOrderEvent(order_id=order_id, at=at, actor_id=actor, code=code, node=at_node,
                          params=params)  # fmt: skip


def _step(order_id: int, node: Node, start: datetime, wt: WorkingTime) -> WorkOrderStep:
    return WorkOrderStep(order_id=order_id, node=node.key, role=node.role.value,
                         started_at=start, due_at=wt.due(node, start))  # fmt: skip


async def create_order(
    session: AsyncSession, caller: Caller, key: str, body: OrderIntake | OrderReport,
    wt: WorkingTime, now_ms: int,
) -> tuple[OrderDetail, bool]:  # fmt: skip
    """(the order, True) when made now; (the same order, False) for a repeat of the key."""
    digest = _hash(body)
    found = await session.scalar(
        select(WorkOrder).where(WorkOrder.created_by == caller.user_id,
                                WorkOrder.idempotency_key == key)
    )  # fmt: skip
    if found is not None:
        if found.request_hash != digest:
            raise Unprocessable(E.ORDER_KEY_REUSED,
                                "Idempotency-Key was already used for another order")  # fmt: skip
        return await detail_view(session, wt.book, found, now_ms), False
    who = await _resolve(session, caller, body)
    now = from_epoch_ms(now_ms)
    kind = OrderKind(body.kind)
    workflow = wt.book.of(kind)
    first = workflow.nodes[0]
    staff = caller.role is not Role.CUSTOMER
    c = who.customer
    intake = body if isinstance(body, OrderIntake) else None
    row = WorkOrder(
        kind=kind,
        channel=body.channel if isinstance(body, OrderIntake) else OrderChannel.PWA,
        customer_id=c.id if c else None, account_id=who.account_id, meter_pk=who.meter_pk,
        transformer_area_id=c.transformer_area_id if c else None,
        contact_name=(intake.contact_name if intake else "") or (c.name if c else ""),
        contact_phone=(intake.contact_phone if intake else "") or (c.phone if c else ""),
        location=body.location or (c.address if c else ""),
        latitude=body.latitude, longitude=body.longitude, description=body.description,
        created_by=caller.user_id, owner_id=caller.user_id if staff else None,
        node=first.key, node_started_at=now, node_due_at=wt.due(first, now),
        idempotency_key=key, request_hash=digest, created_at=now, status=OrderStatus.OPEN,
        version=1, transfers=0, escalated=False, result="", first_contact_resolved=False,
        return_visit_note="", rating_comment="",
    )  # fmt: skip
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same key, at the same moment: the other request made it
        await session.rollback()
        return await create_order(session, caller, key, body, wt, now_ms)
    step = _step(row.id, first, now, wt)
    session.add(step)
    session.add(_event(row.id, now, caller.user_id, OrderEvent.CREATED, first.key,
                       kind=kind.value, channel=row.channel.value))  # fmt: skip
    outage = (
        await open_outage(session, row.transformer_area_id, now)
        if kind is OrderKind.FAULT
        else None
    )
    if outage is not None:
        # the area is already known to be dark: link, do not send a second crew
        last = workflow.nodes[-1]
        step.finished_at, step.outcome = now, StepOutcome.LINKED
        session.add(_step(row.id, last, now, wt))
        row.outage_id, row.node, row.node_due_at = outage.id, last.key, wt.due(last, now)
        session.add(_event(row.id, now, None, OrderEvent.LINKED_OUTAGE, first.key,
                           outage=outage.id,
                           expected_end_at=to_epoch_ms(outage.expected_end_at)))  # fmt: skip
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        return await create_order(session, caller, key, body, wt, now_ms)
    return await detail_view(session, wt.book, row, now_ms), True


# -- reading ---------------------------------------------------------------------------------


async def get_order(
    session: AsyncSession, caller: Caller, order_id: int, wt: WorkingTime, now_ms: int
) -> OrderDetail:
    return await detail_view(session, wt.book, await _order(session, caller, order_id), now_ms)


async def list_orders(
    session: AsyncSession, caller: Caller, wt: WorkingTime, now_ms: int, *,
    status: OrderStatus | None, mine: bool, overdue: bool, escalated: bool | None,
    kind: OrderKind | None, limit: int, offset: int,
) -> OrderPage:  # fmt: skip
    """Open orders by deadline (the queue), closed ones newest first."""
    conds: list[ColumnElement[bool]] = [order_scope(caller)]
    if status is not None:
        conds.append(WorkOrder.status == status)
    if mine:
        conds.append(WorkOrder.owner_id == caller.user_id)
    if overdue:
        conds += [
            WorkOrder.status == OrderStatus.OPEN,
            WorkOrder.node_due_at < from_epoch_ms(now_ms),
        ]
    if escalated is not None:
        conds.append(WorkOrder.escalated.is_(escalated))
    if kind is not None:
        conds.append(WorkOrder.kind == kind)
    total = await session.scalar(select(func.count()).select_from(WorkOrder).where(*conds)) or 0
    order = (
        (WorkOrder.created_at.desc(), WorkOrder.id.desc())
        if caller.role is Role.CUSTOMER or status is OrderStatus.CLOSED
        else (WorkOrder.status.desc(), WorkOrder.node_due_at, WorkOrder.id)
    )  # "open" sorts after "closed": desc puts the open queue first
    rows = list(await session.scalars(select(WorkOrder).where(*conds).order_by(*order)
                                      .limit(limit).offset(offset)))  # fmt: skip
    return OrderPage(items=await order_views(session, wt.book, rows, now_ms), total=total)


async def search_customers(session: AsyncSession, q: str, limit: int = 20) -> list[CustomerHit]:
    """Intake's search: name, customer number, phone, address or account number."""
    like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    by_account = select(Account.customer_id).where(Account.number.like(like, escape="\\"))
    rows = list(
        await session.scalars(
            select(Customer)
            .where(or_(*(col.like(like, escape="\\") for col in (
                           Customer.name, Customer.number, Customer.phone, Customer.address)),
                       Customer.id.in_(by_account)))
            .order_by(Customer.number).limit(limit)
        )
    )  # fmt: skip
    ids = [c.id for c in rows]
    accounts: dict[int, list[AccountHit]] = {}
    for a in await session.scalars(
        select(Account).where(Account.customer_id.in_(ids)).order_by(Account.number)
    ):
        accounts.setdefault(a.customer_id, []).append(AccountHit(id=a.id, number=a.number))
    open_counts = dict(
        (await session.execute(
            select(WorkOrder.customer_id, func.count()).where(
                WorkOrder.customer_id.in_(ids), WorkOrder.status == OrderStatus.OPEN
            ).group_by(WorkOrder.customer_id)
        )).all()
    )  # fmt: skip
    return [
        CustomerHit(id=c.id, number=c.number, name=c.name, phone=c.phone, address=c.address,
                    transformer_area_id=c.transformer_area_id, accounts=accounts.get(c.id, []),
                    open_orders=open_counts.get(c.id, 0))
        for c in rows
    ]  # fmt: skip


async def staff(session: AsyncSession, role: Role | None) -> list[Person]:
    """Who an order can be transferred or dispatched to."""
    q = select(User).where(User.active.is_(True), User.role.in_(OWNERS)).order_by(User.id)
    if role is not None:
        q = q.where(User.role == role)
    return [Person(id=u.id, name=u.display_name or u.username, role=u.role.value)
            for u in await session.scalars(q)]  # fmt: skip


# -- moving ----------------------------------------------------------------------------------


async def _commit_cas(
    session: AsyncSession, row: WorkOrder, seen: int, values: dict[str, Any],
    adds: list[Any], step_end: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Apply ``values`` to the order if its version is still ``seen``, with the step closed and
    the rows in ``adds`` added, in one transaction; else nothing changes and 409."""
    if seen != row.version:
        raise Conflict(E.ORDER_CHANGED, f"work order {row.id} changed; reload it",
                       order=row.id, version=row.version)  # fmt: skip
    order_id = row.id
    done = await session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == order_id, WorkOrder.version == seen)
        .values(**values, version=seen + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise Conflict(E.ORDER_CHANGED, f"work order {order_id} changed; reload it",
                       order=order_id, version=seen + 1)  # fmt: skip
    if step_end is not None:
        await session.execute(
            update(WorkOrderStep)
            .where(WorkOrderStep.order_id == order_id, WorkOrderStep.finished_at.is_(None))
            .values(**step_end)
            .execution_options(synchronize_session=False)
        )
    session.add_all(adds)
    await session.commit()
    session.expire_all()  # the updates above went around the identity map
    await session.refresh(row)


def _move_values(
    row: WorkOrder, wt: WorkingTime, to: Node, start: datetime
) -> tuple[dict[str, Any], WorkOrderStep]:
    step = _step(row.id, to, start, wt)
    return {"node": to.key, "node_started_at": start, "node_due_at": step.due_at,
            "escalated": False}, step  # fmt: skip


def _finished(at: datetime, by: int | None, outcome: StepOutcome) -> dict[str, Any]:
    return {"finished_at": at, "finished_by": by, "outcome": outcome}


def _may_act(caller: Caller, row: WorkOrder, node: Node) -> None:
    if caller.user_id == row.owner_id or caller.role is node.role or caller.role in SUPERVISING:
        return
    raise Forbidden(E.ORDER_NOT_YOURS, f"work order {row.id}: neither its owner nor a "
                    f"{node.role.value}", order=row.id, node=node.key,
                    role=node.role.value)  # fmt: skip


def _open(row: WorkOrder) -> None:
    if row.status is not OrderStatus.OPEN:
        raise Conflict(E.ORDER_CLOSED, f"work order {row.id} is closed", order=row.id)


async def take(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderAdvance, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """Own an order nobody owns yet (one reported from the app): the first to take it owns it."""
    row = await _order(session, caller, order_id)
    _open(row)
    if row.owner_id == caller.user_id:
        return await detail_view(session, wt.book, row, now_ms)
    if row.owner_id is not None:
        raise Conflict(E.ORDER_CHANGED, f"work order {order_id} is owned already",
                       order=order_id, version=row.version)  # fmt: skip
    now = from_epoch_ms(now_ms)
    await _commit_cas(session, row, body.version, {"owner_id": caller.user_id}, [
        _event(row.id, now, caller.user_id, OrderEvent.TAKEN, row.node,
               to_user=await _name(session, caller.user_id))])  # fmt: skip
    return await detail_view(session, wt.book, row, now_ms)


async def _name(session: AsyncSession, user_id: int) -> str:
    user = await session.get(User, user_id)
    return (user.display_name or user.username) if user else str(user_id)


async def advance(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderAdvance, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """Mark the current node done (a person's node) and move to the next."""
    row = await _order(session, caller, order_id)
    _open(row)
    workflow = wt.book.of(row.kind)
    node = workflow.node(row.node)
    _may_act(caller, row, node)
    if node.done_by is not DoneBy.PERSON:
        raise Conflict(E.NODE_DONE_BY_OTHER, f"node {node.key} is done by {node.done_by.value}",
                       order=row.id, node=node.key, done_by=node.done_by.value)  # fmt: skip
    nxt = workflow.after(node.key)
    assert nxt is not None  # the last node is done by closing (checked when loaded)
    now = from_epoch_ms(now_ms)
    values, step = _move_values(row, wt, nxt, now)
    await _commit_cas(session, row, body.version, values, [step, _event(
        row.id, now, caller.user_id, OrderEvent.ADVANCED, node.key, node=node.key,
        next=nxt.key, note=body.note)],
        _finished(now, caller.user_id, StepOutcome.DONE))  # fmt: skip
    return await detail_view(session, wt.book, row, now_ms)


async def _user(session: AsyncSession, user_id: int, roles: frozenset[Role], field: str) -> User:
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise Invalid(E.USER_NOT_FOUND, f"user {user_id} not found", field=field, user=user_id)
    if user.role not in roles:
        raise Invalid(E.WRONG_ROLE_FOR_TASK, f"user {user_id} is a {user.role.value}",
                      field=field, user=user_id, role=user.role.value)  # fmt: skip
    return user


async def transfer(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderTransfer, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """Hand ownership to another member of staff, with a reason, on the timeline."""
    row = await _order(session, caller, order_id)
    _open(row)
    if caller.user_id != row.owner_id and caller.role not in SUPERVISING:
        raise Forbidden(E.ORDER_NOT_YOURS, f"work order {row.id} is not yours to transfer",
                        order=row.id, node=row.node, role="owner")  # fmt: skip
    target = await _user(session, body.to_user_id, frozenset(OWNERS), "to_user_id")
    old = await session.get(User, row.owner_id) if row.owner_id else None
    now = from_epoch_ms(now_ms)
    await _commit_cas(
        session, row, body.version,
        {"owner_id": target.id, "transfers": row.transfers + 1},
        [_event(row.id, now, caller.user_id, OrderEvent.TRANSFERRED, row.node,
                from_user=old.display_name or old.username if old else "",
                to_user=target.display_name or target.username, reason=body.reason)],
    )  # fmt: skip
    return await detail_view(session, wt.book, row, now_ms)


async def dispatch(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderDispatch, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """Send a crew to a fault: its PDA report will attach to this order."""
    row = await _order(session, caller, order_id)
    _open(row)
    if row.outage_id is not None:
        raise Conflict(E.ORDER_LINKED_TO_OUTAGE, f"work order {row.id} is part of outage "
                       f"{row.outage_id}", order=row.id, outage=row.outage_id)  # fmt: skip
    workflow = wt.book.of(row.kind)
    node = workflow.node(row.node)
    if node.done_by is not DoneBy.DISPATCH:
        raise Conflict(E.NODE_DONE_BY_OTHER, f"work order {row.id} is not waiting for dispatch",
                       order=row.id, node=node.key, done_by=node.done_by.value)  # fmt: skip
    _may_act(caller, row, node)
    crew = await _user(session, body.crew_id, frozenset({Role.INSPECTOR}), "crew_id")
    nxt = workflow.after(node.key)
    assert nxt is not None
    now = from_epoch_ms(now_ms)
    values, step = _move_values(row, wt, nxt, now)
    await _commit_cas(session, row, body.version, {**values, "crew_id": crew.id}, [step, _event(
        row.id, now, caller.user_id, OrderEvent.DISPATCHED, node.key,
        crew=crew.display_name or crew.username)],
        _finished(now, caller.user_id, StepOutcome.DONE))  # fmt: skip
    return await detail_view(session, wt.book, row, now_ms)


async def crew_event(
    session: AsyncSession, caller: Caller, order_id: int, job_id: int, done_by: DoneBy,
    wt: WorkingTime, now_ms: int,
) -> None:  # fmt: skip
    """The crew's repair job reached the order: on arrival (the PDA report) or when finished.
    Called by the repair-job service inside its transaction, which it then commits."""
    row = await _order(session, caller, order_id)
    workflow = wt.book.of(row.kind)
    node = workflow.node(row.node)
    if row.status is not OrderStatus.OPEN or node.done_by is not done_by:
        raise Conflict(E.NODE_DONE_BY_OTHER, f"work order {row.id} is not waiting for {done_by}",
                       order=row.id, node=node.key, done_by=node.done_by.value)  # fmt: skip
    if done_by is DoneBy.REPAIR and row.repair_job_id != job_id:
        raise Conflict(E.NODE_DONE_BY_OTHER, f"work order {row.id} waits for another job",
                       order=row.id, node=node.key, done_by=node.done_by.value)  # fmt: skip
    nxt = workflow.after(node.key)
    assert nxt is not None
    now = from_epoch_ms(now_ms)
    step = _step(row.id, nxt, now, wt)
    done = await session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == row.id, WorkOrder.version == row.version)
        .values(node=nxt.key, node_started_at=now, node_due_at=step.due_at, escalated=False,
                repair_job_id=job_id, version=row.version + 1)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(E.ORDER_CHANGED, f"work order {row.id} changed; retry",
                       order=row.id, version=row.version + 1)  # fmt: skip
    await session.execute(
        update(WorkOrderStep)
        .where(WorkOrderStep.order_id == row.id, WorkOrderStep.finished_at.is_(None))
        .values(finished_at=now, finished_by=caller.user_id, outcome=StepOutcome.DONE)
    )
    code = OrderEvent.CREW_ARRIVED if done_by is DoneBy.ARRIVAL else OrderEvent.REPAIRED
    session.add_all([step, _event(row.id, now, caller.user_id, code, node.key, job=job_id)])


async def close(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderClose, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """The owner (or a supervisor) closes with a result, from whatever node it stands at.

    Resolved at first contact (一次解决) when: never transferred, no crew sent, nothing pushed
    on or escalated by a timeout, and nobody but the closer did any of its nodes."""
    row = await _order(session, caller, order_id)
    _open(row)
    if caller.user_id != row.owner_id and caller.role not in SUPERVISING:
        raise Forbidden(E.ORDER_NOT_YOURS, f"work order {row.id} is closed by its owner",
                        order=row.id, node=row.node, role="owner")  # fmt: skip
    steps = list(
        await session.scalars(select(WorkOrderStep).where(WorkOrderStep.order_id == row.id))
    )
    fcr = (
        row.transfers == 0 and row.crew_id is None and caller.user_id == row.owner_id
        and all(s.escalated_at is None and s.outcome is not StepOutcome.AUTO for s in steps)
        and all(s.finished_by in (None, caller.user_id) for s in steps)
    )  # fmt: skip
    now = from_epoch_ms(now_ms)
    await _commit_cas(
        session, row, body.version,
        {"status": OrderStatus.CLOSED, "result": body.result, "closed_at": now,
         "closed_by": caller.user_id, "first_contact_resolved": fcr, "escalated": False},
        [_event(row.id, now, caller.user_id, OrderEvent.CLOSED, row.node, result=body.result)],
        {"finished_at": now, "finished_by": caller.user_id, "outcome": StepOutcome.CLOSED},
    )  # fmt: skip
    return await detail_view(session, wt.book, row, now_ms)


async def return_visit(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderReturnVisit,
    wt: WorkingTime, now_ms: int,
) -> OrderDetail:  # fmt: skip
    """回访: once per order, after closing. The satisfaction heard on the call counts unless the
    customer has rated in the app (their own word wins)."""
    row = await _order(session, caller, order_id)
    if row.status is not OrderStatus.CLOSED:
        raise Conflict(E.ORDER_NOT_CLOSED, f"work order {row.id} is still open", order=row.id)
    now = from_epoch_ms(now_ms)
    values: dict[str, Any] = {"return_visit_at": now, "return_visit_note": body.note}
    if row.satisfaction is None:
        values["satisfaction"] = body.satisfaction
    done = await session.execute(
        update(WorkOrder).where(WorkOrder.id == row.id, WorkOrder.return_visit_at.is_(None))
        .values(**values, version=WorkOrder.version + 1)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise Conflict(E.RETURN_VISIT_DONE, f"work order {order_id} was visited", order=order_id)
    session.add(_event(row.id, now, caller.user_id, OrderEvent.RETURN_VISIT, row.node,
                       satisfaction=body.satisfaction))  # fmt: skip
    await session.commit()
    session.expire_all()  # the updates above went around the identity map
    await session.refresh(row)
    return await detail_view(session, wt.book, row, now_ms)


async def rate(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderRating, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """The customer rates their closed order from the app, once."""
    row = await _order(session, caller, order_id)
    if row.status is not OrderStatus.CLOSED:
        raise Conflict(E.ORDER_NOT_CLOSED, f"work order {row.id} is still open", order=row.id)
    now = from_epoch_ms(now_ms)
    done = await session.execute(
        update(WorkOrder).where(WorkOrder.id == row.id, WorkOrder.rated_at.is_(None))
        .values(satisfaction=body.satisfaction, rated_at=now, rating_comment=body.comment,
                version=WorkOrder.version + 1)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise Conflict(E.ORDER_RATED, f"work order {order_id} is rated already", order=order_id)
    session.add(_event(row.id, now, caller.user_id, OrderEvent.RATED, row.node,
                       satisfaction=body.satisfaction))  # fmt: skip
    await session.commit()
    session.expire_all()  # the updates above went around the identity map
    await session.refresh(row)
    return await detail_view(session, wt.book, row, now_ms)


# -- the sweep -------------------------------------------------------------------------------


async def sweep(session: AsyncSession, wt: WorkingTime, now_ms: int) -> SweepResult:
    """Apply every passed deadline: push on (recorded, R64) or escalate (once per node).

    A node pushed on ends at its deadline and the next node starts then, so a late sweep
    changes nothing about who was late; an order can pass several nodes in one sweep."""
    now = from_epoch_ms(now_ms)
    advanced = escalated = 0
    ids = list(await session.scalars(
        select(WorkOrder.id).where(WorkOrder.status == OrderStatus.OPEN,
                                   WorkOrder.node_due_at < now, WorkOrder.escalated.is_(False))
        .order_by(WorkOrder.node_due_at, WorkOrder.id)
    ))  # fmt: skip
    for order_id in ids:
        row = await session.get(WorkOrder, order_id, populate_existing=True)
        if row is None or row.status is not OrderStatus.OPEN or row.escalated:
            continue
        workflow = wt.book.of(row.kind)
        for _ in range(len(workflow.nodes)):
            node = workflow.node(row.node)
            due = row.node_due_at
            nxt = workflow.after(node.key)
            try:
                if node.on_timeout is TimeoutAction.ADVANCE and nxt is not None:
                    values, step = _move_values(row, wt, nxt, due)
                    await _commit_cas(session, row, row.version, values, [step, _event(
                        row.id, due, None, OrderEvent.AUTO_ADVANCED, node.key, node=node.key,
                        next=nxt.key, due_at=int(due.timestamp() * 1000))],
                        _finished(due, None, StepOutcome.AUTO))  # fmt: skip
                    advanced += 1
                    if row.node_due_at < now:
                        continue
                else:
                    await session.execute(
                        update(WorkOrderStep)
                        .where(WorkOrderStep.order_id == row.id,
                               WorkOrderStep.finished_at.is_(None))
                        .values(escalated_at=now)
                    )  # fmt: skip
                    await _commit_cas(session, row, row.version, {"escalated": True}, [_event(
                        row.id, now, None, OrderEvent.ESCALATED, node.key, node=node.key,
                        due_at=int(due.timestamp() * 1000))])  # fmt: skip
                    escalated += 1
            except Conflict:  # someone acted on it meanwhile: their decision stands
                await session.rollback()
            break
    return SweepResult(advanced=advanced, escalated=escalated)
