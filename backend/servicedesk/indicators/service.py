"""Indicators over a period of local days, per day, person (the owner; for nodes, who did
them) or team (the role). Read from the orders and their steps: a node's lead time is how
long the order stayed there, and a step is on time when it was left by its deadline.

The period's rows are aggregated here rather than in SQL: a service centre's month is
thousands of orders, and one code path serves SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.models import User
from backend.servicedesk.indicators.schemas import Group, IndicatorRow, Indicators, NodeLeadTime
from backend.servicedesk.orders.models import (
    StepOutcome,
    WorkOrder,
    WorkOrderStep,
)
from backend.servicedesk.workflow.models import OrderKind

SYSTEM = "system"  # a node pushed on by its deadline was done by nobody


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


class _Acc:
    def __init__(self) -> None:
        self.orders = self.complaints = self.closed = self.fcr = 0
        self.steps = self.on_time = self.rated = self.sat_sum = 0


async def indicators(
    session: AsyncSession, first: date, last: date, group_by: Group, tz: str
) -> Indicators:
    zone = ZoneInfo(tz)
    lo = datetime.combine(first, time(0), zone)
    hi = datetime.combine(last + timedelta(days=1), time(0), zone)
    users = {u.id: (u.display_name or u.username, u.role.value)
             for u in await session.scalars(select(User))}  # fmt: skip
    customers = await session.scalar(select(func.count()).select_from(Customer)) or 0

    def key(at: datetime, person: int | None) -> str:
        if group_by == "day":
            return at.astimezone(zone).date().isoformat()
        if group_by == "all":
            return "all"
        if person is None:
            return SYSTEM
        name, role = users.get(person, (str(person), ""))
        return name if group_by == "person" else role

    acc: dict[str, _Acc] = defaultdict(_Acc)
    orders = await session.scalars(
        select(WorkOrder).where(
            or_(
                (WorkOrder.created_at >= lo) & (WorkOrder.created_at < hi),
                (WorkOrder.closed_at >= lo) & (WorkOrder.closed_at < hi),
            )
        )
    )
    for o in orders:
        if lo <= o.created_at < hi:
            a = acc[key(o.created_at, o.owner_id)]
            a.orders += 1
            a.complaints += o.kind is OrderKind.COMPLAINT
        if o.closed_at is not None and lo <= o.closed_at < hi:
            a = acc[key(o.closed_at, o.closed_by)]
            a.closed += 1
            a.fcr += o.first_contact_resolved
            if o.satisfaction is not None:
                a.rated += 1
                a.sat_sum += o.satisfaction
    lead: dict[tuple[str, str], list[tuple[float, bool]]] = defaultdict(list)
    steps = await session.execute(
        select(WorkOrderStep, WorkOrder.kind)
        .join(WorkOrder, WorkOrder.id == WorkOrderStep.order_id)
        .where(WorkOrderStep.finished_at >= lo, WorkOrderStep.finished_at < hi,
               WorkOrderStep.outcome != StepOutcome.LINKED)
    )  # fmt: skip
    for step, kind in steps:
        assert step.finished_at is not None
        on_time = step.finished_at <= step.due_at and step.outcome is not StepOutcome.AUTO
        by = step.finished_by
        a = acc[key(step.finished_at, by) if group_by != "team" or by else step.role]
        a.steps += 1
        a.on_time += on_time
        minutes = (step.finished_at - step.started_at).total_seconds() / 60
        lead[(kind.value, step.node)].append((minutes, on_time))
    rows = [
        IndicatorRow(
            group=g, orders=a.orders, complaints=a.complaints, closed=a.closed,
            first_contact_resolved=a.fcr, first_contact_rate=_rate(a.fcr, a.closed),
            steps_done=a.steps, steps_on_time=a.on_time, on_time_rate=_rate(a.on_time, a.steps),
            rated=a.rated,
            satisfaction_avg=round(a.sat_sum / a.rated, 2) if a.rated else None,
            complaints_per_10k=round(a.complaints * 10_000 / customers, 2) if customers else None,
        )
        for g, a in sorted(acc.items())
    ]  # fmt: skip
    lead_times = [
        NodeLeadTime(
            kind=kind, node=node, count=len(v),
            avg_minutes=round(sum(m for m, _ in v) / len(v), 1),
            max_minutes=round(max(m for m, _ in v), 1),
            on_time_rate=round(sum(ok for _, ok in v) / len(v), 4),
        )
        for (kind, node), v in sorted(lead.items())
    ]  # fmt: skip
    return Indicators(
        from_day=first.isoformat(), to_day=last.isoformat(), group_by=group_by,
        customers=customers, rows=rows, lead_times=lead_times,
    )  # fmt: skip


COLUMNS = [f for f in IndicatorRow.__struct_fields__]


def to_csv(found: Indicators) -> str:
    """The rows as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese names)."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in found.rows:
        w.writerow(["" if getattr(r, c) is None else getattr(r, c) for c in COLUMNS])
    return out.getvalue()
