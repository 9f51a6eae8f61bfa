"""Field tasks besides readings: meter checks, key accounts' safety inspections (R14), energy
audits (R16), equipment check-ups and on-site applications (R15), customer visits (R113)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import customer_scope
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.field.books.models import FieldTask, FieldTaskKind, FieldTaskStatus
from backend.field.books.schemas import Task, TaskComplete, TaskCreate
from backend.field.scope import visible_customer, visible_meter
from backend.metering.models import Meter
from backend.types import from_epoch_ms, to_epoch_ms


def _view(task: FieldTask, customer_number: str, meter_id: str | None) -> Task:
    return Task(
        id=task.id,
        kind=task.kind.value,
        status=task.status.value,
        customer_id=task.customer_id,
        customer_number=customer_number,
        meter_id=meter_id,
        due_on=task.due_on.isoformat() if task.due_on else None,
        note=task.note,
        created_by=task.created_by,
        created_at=to_epoch_ms(task.created_at),
        completed_by=task.completed_by,
        completed_at=to_epoch_ms(task.completed_at) if task.completed_at else None,
        result=task.result,
    )


def _due(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(
            E.BAD_DATE, f"due_on {value!r} is not YYYY-MM-DD", field="due_on", value=value
        ) from None


async def create(session: AsyncSession, caller: Caller, body: TaskCreate, now_ms: int) -> Task:
    customer = await visible_customer(session, caller, body.customer_id)
    meter: Meter | None = None
    if body.meter_id is not None:
        meter, _ = await visible_meter(session, caller, body.meter_id)
        if meter.customer_id != customer.id:
            raise Invalid(
                E.METER_NOT_OF_CUSTOMER,
                f"meter {body.meter_id} does not belong to customer {customer.number}",
                field="meter_id",
                meter=body.meter_id,
                customer=customer.number,
            )
    if body.kind == FieldTaskKind.METER_CHECK.value and meter is None:
        raise Invalid(
            E.METER_CHECK_NEEDS_METER,
            "meter_id: a meter_check needs the meter to check",
            field="meter_id",
        )
    task = FieldTask(
        kind=FieldTaskKind(body.kind),
        customer_id=customer.id,
        meter_pk=meter.id if meter else None,
        due_on=_due(body.due_on),
        note=body.note,
        created_by=caller.user_id,
        created_at=from_epoch_ms(now_ms),
    )
    session.add(task)
    await session.commit()
    return _view(task, customer.number, meter.meter_id if meter else None)


async def schedule_safety_inspections(
    session: AsyncSession, caller: Caller, today: date, interval_days: int, due_in_days: int = 14
) -> list[Task]:
    """A safety inspection for every key account (R14) without an open one and without one done
    in the last ``interval_days``. Idempotent: running it twice creates nothing new."""
    recent = today - timedelta(days=interval_days)
    covered = set(
        await session.scalars(
            select(FieldTask.customer_id).where(
                FieldTask.kind == FieldTaskKind.SAFETY_INSPECTION,
                (FieldTask.status == FieldTaskStatus.OPEN)
                | (
                    (FieldTask.status == FieldTaskStatus.DONE)
                    & (FieldTask.completed_at >= datetime(*recent.timetuple()[:3], tzinfo=UTC))
                ),
            )
        )
    )
    keys = await session.scalars(
        select(Customer)
        .where(Customer.key_account_class.is_not(None), customer_scope(caller))
        .order_by(Customer.id)
    )
    created = []
    for customer in keys:
        if customer.id in covered:
            continue
        task = FieldTask(
            kind=FieldTaskKind.SAFETY_INSPECTION,
            customer_id=customer.id,
            due_on=today + timedelta(days=due_in_days),
            note=f"scheduled safety inspection, key account class {customer.key_account_class}",
            created_by=caller.user_id,
        )
        session.add(task)
        created.append((task, customer.number))
    await session.commit()
    return [_view(t, number, None) for t, number in created]


async def _visible_task(
    session: AsyncSession, caller: Caller, task_id: int
) -> tuple[FieldTask, Customer, str | None]:
    row = (
        await session.execute(
            select(FieldTask, Customer, Meter.meter_id)
            .join(Customer, Customer.id == FieldTask.customer_id)
            .outerjoin(Meter, Meter.id == FieldTask.meter_pk)
            .where(FieldTask.id == task_id, customer_scope(caller))
        )
    ).first()
    if row is None:
        raise NotFound(E.TASK_NOT_FOUND, f"task {task_id} not found", task=task_id)
    return row[0], row[1], row[2]


async def get(session: AsyncSession, caller: Caller, task_id: int) -> Task:
    task, customer, meter_id = await _visible_task(session, caller, task_id)
    return _view(task, customer.number, meter_id)


async def list_tasks(
    session: AsyncSession, caller: Caller, status: str | None = "open", kind: str | None = None
) -> list[Task]:
    query = (
        select(FieldTask, Customer.number, Meter.meter_id)
        .join(Customer, Customer.id == FieldTask.customer_id)
        .outerjoin(Meter, Meter.id == FieldTask.meter_pk)
        .where(customer_scope(caller))
        .order_by(FieldTask.due_on.is_(None), FieldTask.due_on, FieldTask.id)
        .limit(1000)
    )
    if status is not None:
        query = query.where(FieldTask.status == FieldTaskStatus(status))
    if kind is not None:
        query = query.where(FieldTask.kind == FieldTaskKind(kind))
    return [_view(t, number, meter_id) for t, number, meter_id in await session.execute(query)]


async def complete(
    session: AsyncSession, caller: Caller, task_id: int, body: TaskComplete, now_ms: int
) -> Task:
    task, customer, meter_id = await _visible_task(session, caller, task_id)
    if task.status == FieldTaskStatus.DONE:
        if task.result == body.result and task.completed_by == caller.user_id:
            return _view(task, customer.number, meter_id)  # a resend from the handheld
        raise Conflict(E.TASK_DONE, f"task {task_id} is already done", task=task_id)
    if task.status == FieldTaskStatus.CANCELLED:
        raise Conflict(E.TASK_CANCELLED, f"task {task_id} was cancelled", task=task_id)
    task.status = FieldTaskStatus.DONE
    task.result = body.result
    task.completed_by = caller.user_id
    task.completed_at = from_epoch_ms(body.fix.fix_at if body.fix else now_ms)
    if body.fix is not None:
        task.latitude = body.fix.latitude
        task.longitude = body.fix.longitude
        task.accuracy_m = body.fix.accuracy_m
    await session.commit()
    return _view(task, customer.number, meter_id)
