"""Rows to API Structs (the names of the people involved loaded in one query)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.models import User
from backend.metering.models import Meter
from backend.servicedesk.orders.models import (
    OrderStatus,
    StepOutcome,
    WorkOrder,
    WorkOrderEvent,
    WorkOrderStep,
)
from backend.servicedesk.orders.schemas import Order, OrderDetail, Person, Step, TimelineEntry
from backend.servicedesk.workflow.schemas import WorkflowBook
from backend.types import to_epoch_ms


def _ms(value: object) -> int | None:
    from datetime import datetime

    return to_epoch_ms(value) if isinstance(value, datetime) else None


async def people(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, Person]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await session.scalars(select(User).where(User.id.in_(wanted)))
    return {
        u.id: Person(id=u.id, name=u.display_name or u.username, role=u.role.value) for u in rows
    }


async def order_views(
    session: AsyncSession, book: WorkflowBook, rows: Sequence[WorkOrder], now_ms: int
) -> list[Order]:
    who = await people(session, [i for r in rows for i in (r.owner_id, r.crew_id)])
    cids = {r.customer_id for r in rows if r.customer_id is not None}
    names = (
        dict((await session.execute(
            select(Customer.id, Customer.name).where(Customer.id.in_(cids)))).all())
        if cids
        else {}
    )  # fmt: skip
    mpks = {r.meter_pk for r in rows if r.meter_pk is not None}
    meters = (
        dict((await session.execute(
            select(Meter.id, Meter.meter_id).where(Meter.id.in_(mpks)))).all())
        if mpks
        else {}
    )  # fmt: skip
    out = []
    for r in rows:
        node = book.of(r.kind).node(r.node)
        due = to_epoch_ms(r.node_due_at)
        is_open = r.status is OrderStatus.OPEN
        out.append(
            Order(
                id=r.id, kind=r.kind, channel=r.channel,
                status="open" if is_open else "closed",
                customer_id=r.customer_id, customer_name=names.get(r.customer_id or 0, ""),
                account_id=r.account_id, meter_id=meters.get(r.meter_pk or 0),
                transformer_area_id=r.transformer_area_id, contact_name=r.contact_name,
                contact_phone=r.contact_phone, location=r.location, latitude=r.latitude,
                longitude=r.longitude, description=r.description,
                owner=who.get(r.owner_id or 0), node=r.node, node_role=node.role.value,
                node_started_at=to_epoch_ms(r.node_started_at), node_due_at=due,
                overdue=is_open and due < now_ms, escalated=r.escalated, version=r.version,
                crew=who.get(r.crew_id or 0), repair_job_id=r.repair_job_id,
                outage_id=r.outage_id, result=r.result, closed_at=_ms(r.closed_at),
                first_contact_resolved=r.first_contact_resolved,
                return_visit_at=_ms(r.return_visit_at), satisfaction=r.satisfaction,
                rated_at=_ms(r.rated_at), created_at=to_epoch_ms(r.created_at),
                photo_sha256=r.photo_sha256,
            )
        )  # fmt: skip
    return out


def _on_time(step: WorkOrderStep) -> bool | None:
    """Left by its deadline, by someone: a node pushed on by its timeout was late."""
    if step.finished_at is None or step.outcome is StepOutcome.LINKED:
        return None
    return step.finished_at <= step.due_at and step.outcome is not StepOutcome.AUTO


async def detail_view(
    session: AsyncSession, book: WorkflowBook, row: WorkOrder, now_ms: int
) -> OrderDetail:
    steps = list(
        await session.scalars(
            select(WorkOrderStep).where(WorkOrderStep.order_id == row.id).order_by(WorkOrderStep.id)
        )
    )
    events = list(
        await session.scalars(
            select(WorkOrderEvent)
            .where(WorkOrderEvent.order_id == row.id)
            .order_by(WorkOrderEvent.at, WorkOrderEvent.id)
        )
    )
    who = await people(session, [e.actor_id for e in events])
    [order] = await order_views(session, book, [row], now_ms)
    return OrderDetail(
        order=order,
        steps=[
            Step(
                node=s.node, role=s.role, started_at=to_epoch_ms(s.started_at),
                due_at=to_epoch_ms(s.due_at), finished_at=_ms(s.finished_at),
                outcome=s.outcome.value if s.outcome else None,
                on_time=_on_time(s),
                escalated=s.escalated_at is not None,
            )
            for s in steps
        ],
        timeline=[
            TimelineEntry(
                at=to_epoch_ms(e.at), code=e.code.value, params=dict(e.params),  # type: ignore[arg-type]
                node=e.node, actor=who.get(e.actor_id or 0),
            )
            for e in events
        ],
    )  # fmt: skip
