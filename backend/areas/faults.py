"""The service-desk side of an outage found from the meters: an unplanned outage's fault notice
on its area (95598 calls from the area link to it and send no second crew) and its fault work
order — one per feeder outage: the later areas of a feeder fault join the first one's order —
and their ending when power is back (the order of a feeder outage with its last area)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.areas.models import AreaOutage, FeederOutage
from backend.field.grids.models import TransformerArea
from backend.servicedesk.models import OutageKind, OutageNotice
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
from backend.types import from_epoch_ms

FAULT_ESTIMATE_MS = 4 * 3_600_000  # a fault notice's expected end, until a crew says better


async def open_fault(
    session: AsyncSession, outage: AreaOutage, wt: WorkingTime, now: datetime
) -> None:
    """An unplanned outage gets a fault notice on its area (calls from the area link to it and
    send no second crew) and one fault work order, made by the system, waiting for dispatch.
    Once: it is made in the transaction that opens the outage, which the read position's
    compare-and-set lets only one process commit."""
    area = await session.get(TransformerArea, outage.transformer_area_id)
    label = f"{area.code} {area.name}" if area else ""
    start = from_epoch_ms(outage.started_at)
    notice = OutageNotice(
        kind=OutageKind.UNPLANNED, area=area.name if area else "",
        transformer_area_id=outage.transformer_area_id, starts_at=start,
        expected_end_at=from_epoch_ms(outage.started_at + FAULT_ESTIMATE_MS), cancelled=False,
        reason="", created_by=None, created_at=now,
    )  # fmt: skip
    session.add(notice)
    feeder = (
        await session.get(FeederOutage, outage.feeder_outage_id)
        if outage.feeder_outage_id is not None
        else None
    )
    joined = (
        await session.get(WorkOrder, feeder.work_order_id)
        if feeder is not None and feeder.work_order_id is not None
        else None
    )
    if joined is not None and joined.status is OrderStatus.OPEN:
        # one crew for a feeder fault: this area joins the feeder's order, its timeline says so
        await session.flush()
        outage.fault_notice_id = notice.id
        session.add(entry(joined.id, now, None, OrderEvent.OUTAGE_FOUND, joined.node,
                          outage=outage.id, area=label, off_at=outage.started_at))  # fmt: skip
        return
    workflow = wt.book.of(OrderKind.FAULT)
    first = workflow.nodes[0]
    order = WorkOrder(
        kind=OrderKind.FAULT, channel=OrderChannel.METERS, status=OrderStatus.OPEN,
        transformer_area_id=outage.transformer_area_id, location=label, description=label,
        created_by=None, owner_id=None, node=first.key, node_started_at=now,
        node_due_at=wt.due(first, now), idempotency_key=f"area-outage:{outage.id}",
        request_hash="", created_at=now, version=1, transfers=0, escalated=False, result="",
        first_contact_resolved=False, return_visit_note="", rating_comment="",
    )  # fmt: skip
    session.add(order)
    await session.flush()
    order.outage_id = notice.id
    outage.fault_notice_id, outage.work_order_id = notice.id, order.id
    if feeder is not None:
        feeder.work_order_id = order.id
    session.add(node_step(order.id, first, now, wt))
    session.add(entry(order.id, now, None, OrderEvent.CREATED, first.key,
                      kind=OrderKind.FAULT.value, channel=OrderChannel.METERS.value))  # fmt: skip
    session.add(entry(order.id, now, None, OrderEvent.OUTAGE_FOUND, first.key,
                      outage=outage.id, area=label, off_at=outage.started_at))  # fmt: skip


async def closed(session: AsyncSession, outage: AreaOutage, now: datetime) -> None:
    """Power is back in the whole area: its fault notice ends, its work order closes with the
    restoration as result (unless someone closed it already); in a feeder outage, the feeder
    outage and its one order end with the last area."""
    assert outage.ended_at is not None
    if outage.fault_notice_id is not None:
        notice = await session.get(OutageNotice, outage.fault_notice_id)
        if notice is not None and notice.ended_at is None:
            notice.ended_at = from_epoch_ms(outage.ended_at)
    order_id = outage.work_order_id
    if outage.feeder_outage_id is not None:
        open_areas = await session.scalar(
            select(func.count())
            .select_from(AreaOutage)
            .where(
                AreaOutage.feeder_outage_id == outage.feeder_outage_id,
                AreaOutage.ended_at.is_(None),
            )
        )
        feeder = await session.get(FeederOutage, outage.feeder_outage_id)
        order_id = None  # the feeder's one order waits for its last area
        if feeder is not None and not open_areas:
            feeder.ended_at = await session.scalar(
                select(func.max(AreaOutage.ended_at)).where(
                    AreaOutage.feeder_outage_id == outage.feeder_outage_id
                )
            )
            order_id = feeder.work_order_id
    if order_id is not None:
        await _close_order(session, order_id, outage, now)


async def _close_order(
    session: AsyncSession, order_id: int, outage: AreaOutage, now: datetime
) -> None:
    """Close the fault order with the restoration as result, unless someone closed it."""
    order = await session.get(WorkOrder, order_id)
    if order is not None and order.status is OrderStatus.OPEN:
        order.status, order.closed_at, order.escalated = OrderStatus.CLOSED, now, False
        order.version += 1
        await session.execute(
            update(WorkOrderStep)
            .where(WorkOrderStep.order_id == order.id, WorkOrderStep.finished_at.is_(None))
            .values(finished_at=now, outcome=StepOutcome.CLOSED)
        )
        session.add(entry(order.id, now, None, OrderEvent.POWER_RESTORED, order.node,
                          outage=outage.id, on_at=outage.ended_at))  # fmt: skip
