"""The 95598 side of a seeded utility: work orders (工单) and outage notices (停电通知) of its
recent days, made through the service desk's own service calls — as the API makes them, with
the seeded past as their clock — so that every order has its steps, events and deadlines as a
real one would. Deterministic from the seed number.

Proportions: about one work order a month per 200 customers (inquiries most, then faults,
complaints, appointments and business requests); those of the last day open, four in five of
those one to three days old and nearly all older ones closed by the operator who took them
(faults after dispatching the grid's inspector), four in five closed ones with a return visit
(回访) and its satisfaction; the workflow's own sweep at the end escalates the overdue open ones.
About one outage in the recent days per 40 transformer areas, planned or after a fault, ended,
and two planned ones still to come.
"""

from __future__ import annotations

import random
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend.auth.guards import Caller, load_caller
from backend.db import session_factory
from backend.seed import service as S
from backend.servicedesk import service as desk
from backend.servicedesk.orders import decisions
from backend.servicedesk.orders import service as orders
from backend.servicedesk.orders.schemas import (
    OrderClose,
    OrderDispatch,
    OrderIntake,
    OrderReturnVisit,
)
from backend.servicedesk.schemas import OutageCreate, OutageEnd
from backend.servicedesk.workflow.models import OrderChannel, OrderKind
from backend.servicedesk.workflow.service import WorkingTime, working_time
from backend.settings import Settings
from backend.types import to_epoch_ms

H = 3_600_000
DAY = 24 * H
CUSTOMERS_PER_ORDER = 200  # work orders a month: one per this many customers
AREAS_PER_OUTAGE = 40  # outages in the recent days: one per this many transformer areas
CLOSED_LATER = 0.98  # orders older than three days that were closed (one to three days: 0.8)

# kind: share, what the customer said, what the operator closed it with
ORDERS: dict[OrderKind, tuple[float, tuple[str, ...], tuple[str, ...]]] = {
    OrderKind.INQUIRY: (0.45, ("咨询阶梯电价怎么计算", "咨询余额不足提醒", "咨询电费账单明细"),
                        ("已解释年度阶梯电价", "已说明余额提醒规则", "已逐项解释账单")),
    OrderKind.FAULT: (0.25, ("家中无电，邻居有电", "电表显示异常", "单相电压偏低"),
                      ("表后开关跳闸，已恢复", "已更换电表", "已调整接线，电压正常")),
    OrderKind.COMPLAINT: (0.12, ("投诉抄表员未按时抄表", "投诉停电未提前通知"),
                          ("已核实并向客户致歉", "已说明停电通知渠道并致歉")),
    OrderKind.APPOINTMENT: (0.10, ("预约上门校验电表", "预约现场勘查"),
                            ("已上门校验，电表合格", "已完成现场勘查")),
    OrderKind.BUSINESS: (0.08, ("申请更名过户", "申请增加用电容量"),
                         ("已办理完毕", "已受理并转业扩")),
}  # fmt: skip
KINDS = [(kind, share) for kind, (share, _, _) in ORDERS.items()]
SATISFACTION = [(5, 0.6), (4, 0.25), (3, 0.1), (2, 0.03), (1, 0.02)]
OUTAGE_REASONS = {"planned": ("线路检修", "配变增容改造", "树障清理"),
                  "unplanned": ("线路故障跳闸", "配变故障", "外力破坏")}  # fmt: skip


async def seed_desk(
    engine: AsyncEngine, spec: S.SeedSpec, ids: S.Ids, settings: Settings
) -> dict[str, int]:
    """Work orders and outage notices of the recent days; returns how many of each."""
    wt = working_time(settings.prepaid_holiday_calendar, settings.timezone)
    now = to_epoch_ms(spec.clock)
    r = S.rng_for(spec.seed, 95598)
    first_operator = ids.user + spec.grids  # staff_rows: the inspectors, then the operators
    made = {"work_orders": 0, "outage_notices": 0}
    async with session_factory(engine)() as s:
        op = await load_caller(s, first_operator)
        assert op is not None
        crews = [await load_caller(s, ids.user + g) for g in range(spec.grids)]
        n = max(3, round(spec.accounts * spec.recent_days / 30 / CUSTOMERS_PER_ORDER))
        for k in range(n):
            made["work_orders"] += await _order(s, spec, ids, wt, op, crews, r, now, k)
        m = max(1, round(spec.areas / AREAS_PER_OUTAGE))
        for k in range(m + 2):
            await _outage(s, spec, ids, op, r, now, upcoming=k >= m)
            made["outage_notices"] += 1
        await decisions.sweep(s, wt, now)  # the overdue open orders: pushed on or escalated
    return made


async def _order(
    s: AsyncSession, spec: S.SeedSpec, ids: S.Ids, wt: WorkingTime, op: Caller,
    crews: list[Caller | None], r: random.Random, now: int, k: int,
) -> int:  # fmt: skip
    kind: OrderKind = S.pick(r, KINDS)
    _, said, results = ORDERS[kind]
    i = r.randrange(spec.accounts)
    at = now - r.randrange(15 * 60_000, spec.recent_days * DAY)
    body = OrderIntake(
        kind=kind, channel=OrderChannel.PHONE, description=r.choice(said),
        customer_id=ids.customer + i, account_id=ids.account + i,
    )  # fmt: skip
    detail, new = await orders.create_order(s, op, f"seed-{spec.key}-{k}", body, wt, at)
    age = now - at
    if not new or r.random() >= (0 if age < DAY else 0.8 if age < 3 * DAY else CLOSED_LATER):
        return int(new)  # still open
    oid, t = detail.order.id, at + r.randrange(5 * 60_000, 8 * H)
    version = 1
    crew = crews[S.grid_of_area(spec, S.customer(spec, i).area)]
    if kind is OrderKind.FAULT and crew is not None:
        await decisions.dispatch(s, op, oid, OrderDispatch(version=1, crew_id=crew.user_id), wt,
                                 at + 10 * 60_000)  # fmt: skip
        version = (await orders.get_order(s, op, oid, wt, t)).order.version
    await decisions.close(s, op, oid, OrderClose(version=version, result=r.choice(results)), wt, t)
    if r.random() < 0.8:
        score: int = S.pick(r, SATISFACTION)
        await decisions.return_visit(s, op, oid, OrderReturnVisit(satisfaction=score), wt,
                                     t + r.randrange(H, 2 * DAY))  # fmt: skip
    return 1


async def _outage(
    s: AsyncSession, spec: S.SeedSpec, ids: S.Ids, op: Caller, r: random.Random, now: int, *,
    upcoming: bool,
) -> None:  # fmt: skip
    kind: Literal["planned", "unplanned"] = (
        "planned" if upcoming or r.random() < 0.6 else "unplanned"
    )
    a = r.randrange(spec.areas)
    if upcoming:
        starts = now + r.randrange(1, 7) * DAY + 8 * H
    else:
        starts = now - r.randrange(DAY, spec.recent_days * DAY)
    hours = r.randrange(4, 9) if kind == "planned" else r.randrange(1, 4)
    body = OutageCreate(
        kind=kind, area=f"合成台区{a + 1}", transformer_area_id=ids.area + a, starts_at=starts,
        expected_end_at=starts + hours * H, reason=r.choice(OUTAGE_REASONS[kind]),
    )  # fmt: skip
    if upcoming:  # announced already
        announced = now - r.randrange(H, DAY)
    else:  # a planned one a day ahead, one after a fault as it happened
        announced = starts - (DAY if kind == "planned" else 0)
    made = await desk.create_outage(s, op, body, announced)
    if not upcoming:
        ended = starts + hours * H + r.randrange(-H // 2, H)
        await desk.end_outage(s, made.id, OutageEnd(ended_at=ended), now)
