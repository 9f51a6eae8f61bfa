"""Work orders: intake from every channel, first-contact ownership, linking a fault to a known
outage, reading and scope. The decisions that move an order (take, transfer, dispatch, close,
return visit, rating, the sweep) are in ``decisions.py``.

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
import re
from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import ColumnElement, and_, func, or_, select, union
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer
from backend.accounts.service import like_pattern, name_candidates, name_holds, number_forms
from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.auth.scope import customer_scope
from backend.errors import ErrorCode as E
from backend.errors import Invalid, NotFound, Unprocessable
from backend.field.readings.models import FieldPhoto
from backend.keyaccounts.service import deadline_pct
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
    OrderDetail,
    OrderIntake,
    OrderPage,
    OrderReport,
    Person,
)
from backend.servicedesk.orders.views import detail_view, order_views
from backend.servicedesk.workflow.models import OrderChannel, OrderKind
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
    mine = or_(WorkOrder.owner_id == me, WorkOrder.crew_id == me, WorkOrder.created_by == me)
    if caller.org_unit_id is not None and caller.grid_ids:  # back office scoped to a unit (R110)
        below = select(Customer.id).where(Customer.grid_id.in_(caller.grid_ids))
        return or_(mine, WorkOrder.customer_id.in_(below))
    return mine


async def find_order(session: AsyncSession, caller: Caller, order_id: int) -> WorkOrder:
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


def entry(
    order_id: int, at: datetime, actor: int | None, code: OrderEvent, at_node: str, /,
    **params: Param,
) -> WorkOrderEvent:  # fmt: skip
    return WorkOrderEvent(order_id=order_id, at=at, actor_id=actor, code=code, node=at_node,
                          params=params)  # fmt: skip


def node_step(
    order_id: int, node: Node, start: datetime, wt: WorkingTime, pct: int = 100
) -> WorkOrderStep:
    return WorkOrderStep(order_id=order_id, node=node.key, role=node.role.value,
                         started_at=start, due_at=wt.due(node, start, pct))  # fmt: skip


async def create_order(
    session: AsyncSession, caller: Caller, key: str, body: OrderIntake | OrderReport,
    wt: WorkingTime, now_ms: int,
) -> tuple[OrderDetail, bool]:  # fmt: skip
    """(the order, True) when made now; (the same order, False) for a repeat of the key."""
    if isinstance(body, OrderIntake) and body.channel is OrderChannel.METERS:
        raise Invalid(E.INVALID_REQUEST, "channel meters is the system's own", field="channel")
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
    photo = body.photo_sha256 if isinstance(body, OrderReport) else None
    if photo is not None:
        own = await session.get(FieldPhoto, photo)
        if own is None or own.uploaded_by != caller.user_id:  # only a photo of one's own
            raise Invalid(E.PHOTO_NOT_FOUND, f"photo {photo} not found", field="photo_sha256",
                          photo=photo)  # fmt: skip
    now = from_epoch_ms(now_ms)
    kind = OrderKind(body.kind)
    workflow = wt.book.of(kind)
    first = workflow.nodes[0]
    staff = caller.role is not Role.CUSTOMER
    c = who.customer
    intake = body if isinstance(body, OrderIntake) else None
    pct = await deadline_pct(session, c.id) if c else 100  # key accounts answer sooner (R99)
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
        node=first.key, node_started_at=now, node_due_at=wt.due(first, now, pct),
        idempotency_key=key, request_hash=digest, created_at=now, status=OrderStatus.OPEN,
        version=1, transfers=0, escalated=False, result="", first_contact_resolved=False,
        return_visit_note="", rating_comment="", photo_sha256=photo,
    )  # fmt: skip
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # the same key, at the same moment: the other request made it
        await session.rollback()
        return await create_order(session, caller, key, body, wt, now_ms)
    step = node_step(row.id, first, now, wt, pct)
    session.add(step)
    session.add(entry(row.id, now, caller.user_id, OrderEvent.CREATED, first.key,
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
        session.add(node_step(row.id, last, now, wt))
        row.outage_id, row.node, row.node_due_at = outage.id, last.key, wt.due(last, now)
        session.add(entry(row.id, now, None, OrderEvent.LINKED_OUTAGE, first.key,
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
    return await detail_view(session, wt.book, await find_order(session, caller, order_id), now_ms)


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


SearchBy = Literal["any", "address"]
PHONE_SEPARATORS = re.compile(r"[\s()\-]")


async def search_customers(
    session: AsyncSession, caller: Caller, q: str, by: SearchBy = "any", limit: int = 20,
    offset: int = 0,
) -> list[CustomerHit]:  # fmt: skip
    """Intake's search, within the caller's scope (staff of an organisation unit: the
    customers of its grids), by customer number, a page at a time. ``any``: the customer
    number, an account number or the phone whole (each from its index), or a name holding
    ``q`` (from the name grams), checked on the few candidates found; ``address``: addresses
    holding ``q``, which no index serves — a scan that stops at the page's last hit."""
    if by == "address":
        where: ColumnElement[bool] = Customer.address.like(like_pattern(q), escape="\\")
    else:
        numbers = number_forms(q)
        phones = sorted({q, PHONE_SEPARATORS.sub("", q)})
        by_account = select(Account.customer_id).where(Account.number.in_(numbers))
        candidates = union(
            name_candidates(q, session.get_bind().dialect.name == "sqlite"),
            select(Customer.id).where(Customer.number.in_(numbers)),
            select(Customer.id).where(Customer.phone.in_(phones)),
            by_account,
        ).subquery()
        where = and_(
            Customer.id.in_(candidates.select()),
            or_(Customer.number.in_(numbers), Customer.phone.in_(phones), name_holds(q),
                Customer.id.in_(by_account)),
        )  # fmt: skip
    stmt = select(Customer).where(where, customer_scope(caller)).order_by(Customer.number)
    rows = list(await session.scalars(stmt.limit(limit).offset(offset)))
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
