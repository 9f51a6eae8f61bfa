"""Decisions on work orders: take, node done, transfer, dispatch, the crew's arrival and
repair, close, return visit, rating, and the sweep that applies passed deadlines.

Every decision names the ``version`` the person saw and is an ``UPDATE … WHERE version =
:seen`` in one transaction with its step and timeline rows: two people acting at once yield one
effect, the other gets 409 ``order_changed`` and nothing of theirs is written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.errors import Conflict, Forbidden, Invalid
from backend.errors import ErrorCode as E
from backend.servicedesk.orders.models import (
    OrderEvent,
    OrderStatus,
    StepOutcome,
    WorkOrder,
    WorkOrderStep,
)
from backend.servicedesk.orders.schemas import (
    OrderAdvance,
    OrderClose,
    OrderDetail,
    OrderDispatch,
    OrderRating,
    OrderReturnVisit,
    OrderTransfer,
    SweepResult,
)
from backend.servicedesk.orders.service import (
    OWNERS,
    SUPERVISING,
    entry,
    find_order,
    node_step,
)
from backend.servicedesk.orders.views import detail_view
from backend.servicedesk.workflow.models import DoneBy, TimeoutAction
from backend.servicedesk.workflow.schemas import Node
from backend.servicedesk.workflow.service import WorkingTime
from backend.types import from_epoch_ms

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
    changed = Conflict(E.ORDER_CHANGED, f"work order {row.id} changed; reload it",
                       order=row.id, version=seen + 1)  # fmt: skip
    await _commit_if(session, row, WorkOrder.version == seen, values, adds, changed, step_end)


async def _commit_if(
    session: AsyncSession, row: WorkOrder, guard: Any, values: dict[str, Any],
    adds: list[Any], refused: Conflict, step_end: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """The one way an order changes: ``values`` (and a version step) where ``guard`` still
    holds, the open step closed with ``step_end``, ``adds`` added, committed; when the guard no
    longer holds (someone acted first) nothing changes and ``refused`` is raised."""
    order_id = row.id
    done = await session.execute(
        update(WorkOrder)
        .where(WorkOrder.id == order_id, guard)
        .values(**values, version=WorkOrder.version + 1)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()
        raise refused
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
    step = node_step(row.id, to, start, wt)
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
    row = await find_order(session, caller, order_id)
    _open(row)
    if row.owner_id == caller.user_id:
        return await detail_view(session, wt.book, row, now_ms)
    if row.owner_id is not None:
        raise Conflict(E.ORDER_CHANGED, f"work order {order_id} is owned already",
                       order=order_id, version=row.version)  # fmt: skip
    now = from_epoch_ms(now_ms)
    await _commit_cas(session, row, body.version, {"owner_id": caller.user_id}, [
        entry(row.id, now, caller.user_id, OrderEvent.TAKEN, row.node,
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
    row = await find_order(session, caller, order_id)
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
    await _commit_cas(session, row, body.version, values, [step, entry(
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
    row = await find_order(session, caller, order_id)
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
        [entry(row.id, now, caller.user_id, OrderEvent.TRANSFERRED, row.node,
                from_user=old.display_name or old.username if old else "",
                to_user=target.display_name or target.username, reason=body.reason)],
    )  # fmt: skip
    return await detail_view(session, wt.book, row, now_ms)


async def dispatch(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderDispatch, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """Send a crew to a fault: its PDA report will attach to this order."""
    row = await find_order(session, caller, order_id)
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
    await _commit_cas(session, row, body.version, {**values, "crew_id": crew.id}, [step, entry(
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
    row = await find_order(session, caller, order_id)
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
    step = node_step(row.id, nxt, now, wt)
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
    session.add_all([step, entry(row.id, now, caller.user_id, code, node.key, job=job_id)])


async def close(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderClose, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """The owner (or a supervisor) closes with a result, from whatever node it stands at.

    Resolved at first contact (一次解决) when: never transferred, no crew sent, nothing pushed
    on or escalated by a timeout, and nobody but the closer did any of its nodes."""
    row = await find_order(session, caller, order_id)
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
        [entry(row.id, now, caller.user_id, OrderEvent.CLOSED, row.node, result=body.result)],
        {"finished_at": now, "finished_by": caller.user_id, "outcome": StepOutcome.CLOSED},
    )  # fmt: skip
    return await detail_view(session, wt.book, row, now_ms)


async def return_visit(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderReturnVisit,
    wt: WorkingTime, now_ms: int,
) -> OrderDetail:  # fmt: skip
    """回访: once per order, after closing. The satisfaction heard on the call counts unless the
    customer has rated in the app (their own word wins)."""
    row = await find_order(session, caller, order_id)
    if row.status is not OrderStatus.CLOSED:
        raise Conflict(E.ORDER_NOT_CLOSED, f"work order {row.id} is still open", order=row.id)
    now = from_epoch_ms(now_ms)
    values: dict[str, Any] = {"return_visit_at": now, "return_visit_note": body.note}
    if row.satisfaction is None:
        values["satisfaction"] = body.satisfaction
    visited = Conflict(E.RETURN_VISIT_DONE, f"work order {order_id} was visited", order=order_id)
    adds = [entry(row.id, now, caller.user_id, OrderEvent.RETURN_VISIT, row.node,
                  satisfaction=body.satisfaction)]  # fmt: skip
    await _commit_if(session, row, WorkOrder.return_visit_at.is_(None), values, adds, visited)
    return await detail_view(session, wt.book, row, now_ms)


async def rate(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderRating, wt: WorkingTime,
    now_ms: int,
) -> OrderDetail:  # fmt: skip
    """The customer rates their closed order from the app, once."""
    row = await find_order(session, caller, order_id)
    if row.status is not OrderStatus.CLOSED:
        raise Conflict(E.ORDER_NOT_CLOSED, f"work order {row.id} is still open", order=row.id)
    now = from_epoch_ms(now_ms)
    values = {"satisfaction": body.satisfaction, "rated_at": now, "rating_comment": body.comment}
    rated = Conflict(E.ORDER_RATED, f"work order {order_id} is rated already", order=order_id)
    adds = [entry(row.id, now, caller.user_id, OrderEvent.RATED, row.node,
                  satisfaction=body.satisfaction)]  # fmt: skip
    await _commit_if(session, row, WorkOrder.rated_at.is_(None), values, adds, rated)
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
                    await _commit_cas(session, row, row.version, values, [step, entry(
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
                    await _commit_cas(session, row, row.version, {"escalated": True}, [entry(
                        row.id, now, None, OrderEvent.ESCALATED, node.key, node=node.key,
                        due_at=int(due.timestamp() * 1000))])  # fmt: skip
                    escalated += 1
            except Conflict:  # someone acted on it meanwhile: their decision stands
                await session.rollback()
            break
    return SweepResult(advanced=advanced, escalated=escalated)
