"""An order's follow-ups, made through the owning capabilities' own services: a field task
(backend/field/books/tasks.py, the same checks as ``POST /api/field/tasks``) and a meter command
(backend/commands/decisions.py, the same gate as ``POST /api/commands``: a disconnect waits for
a second person, the disconnect policy and its overrides apply). Each leaves a timeline entry.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.guards import Caller
from backend.commands import decisions as commands
from backend.commands.models import Command
from backend.errors import Conflict, Invalid
from backend.errors import ErrorCode as E
from backend.field.books import tasks
from backend.field.books.models import FieldTask, FieldTaskStatus
from backend.field.books.schemas import TaskCreate
from backend.metering.models import Meter
from backend.servicedesk.followups.schemas import FollowUp, OrderCommand, OrderFieldTask
from backend.servicedesk.orders.models import OrderEvent, OrderStatus, WorkOrder, WorkOrderEvent
from backend.servicedesk.orders.service import entry, find_order
from backend.types import from_epoch_ms
from protocols.contract import CommandKind


async def _meter(session: AsyncSession, row: WorkOrder) -> Meter | None:
    """The order's meter, else the one meter of its account."""
    if row.meter_pk is not None:
        return await session.get(Meter, row.meter_pk)
    if row.account_id is None:
        return None
    found = list(await session.scalars(select(Meter).where(Meter.account_id == row.account_id)))
    return found[0] if len(found) == 1 else None


def _open(row: WorkOrder) -> None:
    if row.status is not OrderStatus.OPEN:
        raise Conflict(E.ORDER_CLOSED, f"work order {row.id} is closed", order=row.id)


async def field_task(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderFieldTask, now_ms: int
) -> FollowUp:
    row = await find_order(session, caller, order_id)
    _open(row)
    if row.customer_id is None:
        raise Invalid(E.ORDER_HAS_NO_CUSTOMER, f"work order {row.id} names no customer",
                      order=row.id)  # fmt: skip
    made = await session.scalars(
        select(WorkOrderEvent.params).where(
            WorkOrderEvent.order_id == row.id, WorkOrderEvent.code == OrderEvent.FIELD_TASK
        )
    )
    for params in made:  # the order's task still open: asking again (a double tap) is that one
        task_id = params.get("task")
        done = await session.get(FieldTask, task_id) if isinstance(task_id, int) else None
        if done is not None and done.status is FieldTaskStatus.OPEN:
            return FollowUp(order_id=row.id, field_task_id=done.id)
    meter = await _meter(session, row)
    meter_id = meter.meter_id if meter is not None else None
    kind = body.kind or ("meter_check" if meter_id else "customer_visit")
    note = body.note or f"#{row.id} {row.description}"[:1000]
    order_id, node, customer_id = row.id, row.node, row.customer_id
    task = await tasks.create(
        session, caller,
        TaskCreate(kind=kind, customer_id=customer_id, meter_id=meter_id, due_on=body.due_on,
                   note=note),
        now_ms,
    )  # fmt: skip
    session.add(entry(order_id, from_epoch_ms(now_ms), caller.user_id, OrderEvent.FIELD_TASK,
                      node, task=task.id, task_kind=kind))  # fmt: skip
    await session.commit()
    return FollowUp(order_id=order_id, field_task_id=task.id)


async def meter_command(
    session: AsyncSession, caller: Caller, order_id: int, body: OrderCommand,
    ctx: commands.Context, now_ms: int,
) -> FollowUp:  # fmt: skip
    row = await find_order(session, caller, order_id)
    _open(row)
    meter = await _meter(session, row)
    if meter is None:
        raise Invalid(E.ORDER_HAS_NO_METER, f"work order {row.id} names no meter", order=row.id)
    replay = body.id is not None and await session.get(Command, body.id) is not None
    c = await commands.order(
        session, meter, CommandKind(body.kind), reason=f"#{row.id} {body.reason}",
        actor=caller.username, ctx=ctx, command_id=body.id,
        override_reason=body.override_reason,
    )  # fmt: skip
    if c.meter_pk != meter.id:  # the id names a command of another meter: not this one
        raise Conflict(E.CLIENT_ID_REUSED, f"command id {c.id} is another meter's",
                       field="id")  # fmt: skip
    if not replay:  # a retry with the same id is the same command, recorded once
        session.add(entry(row.id, from_epoch_ms(now_ms), caller.user_id, OrderEvent.COMMAND,
                          row.node, command=c.id, kind=body.kind,
                          state=c.state.value))  # fmt: skip
    out = FollowUp(order_id=row.id, command_id=c.id, command_state=c.state.value)
    await session.commit()
    return out
