"""Demo work orders: open, overdue and closed ones, made through the same service calls the API
makes, with their times set in the past. Idempotent: each demo order has its own
Idempotency-Key, and the steps after creation run only when the order is new."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, Customer
from backend.auth.guards import Caller, load_caller
from backend.auth.models import User
from backend.servicedesk.orders import decisions, service
from backend.servicedesk.orders.schemas import (
    OrderClose,
    OrderDispatch,
    OrderIntake,
    OrderReport,
    OrderReturnVisit,
    OrderTransfer,
)
from backend.servicedesk.workflow.models import OrderChannel, OrderKind
from backend.servicedesk.workflow.service import WorkingTime
from backend.types import to_epoch_ms, utcnow

H = 3_600_000
DAY = 24 * H


async def _caller(session: AsyncSession, username: str) -> Caller:
    user_id = await session.scalar(select(User.id).where(User.username == username))
    assert user_id is not None, username
    caller = await load_caller(session, user_id)
    assert caller is not None
    return caller


async def seed_orders(
    factory: async_sessionmaker[AsyncSession], wt: WorkingTime, customer_numbers: list[str]
) -> int:
    """Seven orders on the demo's customers; returns how many were new."""
    now = to_epoch_ms(utcnow())
    made = 0
    async with factory() as s:
        op, op2 = await _caller(s, "operator"), await _caller(s, "operator2")
        cust, crew = await _caller(s, "customer"), await _caller(s, "inspector")
        rows = (
            await s.execute(
                select(Customer.id, Account.id)
                .join(Account, Account.customer_id == Customer.id)
                .where(Customer.number.in_(customer_numbers))
                .order_by(Customer.number)
            )
        ).all()
        ids = [(c, a) for c, a in rows]
        (c1, a1), (c2, a2), (c3, a3) = ids[0], ids[1], ids[2 % len(ids)]

        async def intake(key: str, at: int, kind: OrderKind, text: str, cid: int, aid: int,
                         who: Caller = op) -> tuple[int, bool]:  # fmt: skip
            body = OrderIntake(kind=kind, channel=OrderChannel.PHONE, description=text,
                               customer_id=cid, account_id=aid)  # fmt: skip
            d, new = await service.create_order(s, who, f"demo-{key}", body, wt, at)
            return d.order.id, new

        async def version(order_id: int, at: int) -> int:
            return (await service.get_order(s, op, order_id, wt, at)).order.version

        # closed at first contact, visited: a question answered on the phone
        oid, new = await intake("inquiry", now - 3 * DAY, OrderKind.INQUIRY,
                                "咨询阶梯电价怎么计算", c1, a1)  # fmt: skip
        if new:
            made += 1
            t = now - 3 * DAY + 10 * 60_000
            await decisions.close(s, op, oid, OrderClose(version=1, result="已解释年度阶梯电价"),
                                wt, t)  # fmt: skip
            await decisions.return_visit(s, op, oid, OrderReturnVisit(satisfaction=5), wt, t + H)
        # a complaint handed to a colleague, then closed and visited
        oid, new = await intake("complaint", now - 2 * DAY, OrderKind.COMPLAINT,
                                "投诉抄表员未按时抄表", c2, a2)  # fmt: skip
        if new:
            made += 1
            t = now - 2 * DAY + 20 * 60_000
            await decisions.transfer(s, op, oid, OrderTransfer(version=1, to_user_id=op2.user_id,
                                   reason="交接班"), wt, t)  # fmt: skip
            await decisions.close(s, op2, oid, OrderClose(version=2, result="已核实并向客户致歉"),
                                wt, t + 3 * H)  # fmt: skip
            await decisions.return_visit(s, op2, oid, OrderReturnVisit(satisfaction=3), wt,
                                       t + 4 * H)  # fmt: skip
        # a fault a crew repaired
        oid, new = await intake("fault", now - DAY, OrderKind.FAULT, "家中无电，邻居有电",
                                c3, a3)  # fmt: skip
        if new:
            made += 1
            t = now - DAY + 10 * 60_000
            await decisions.dispatch(s, op, oid, OrderDispatch(version=1, crew_id=crew.user_id),
                                   wt, t)  # fmt: skip
            await decisions.close(s, op, oid, OrderClose(version=await version(oid, t + H),
                                result="表后开关跳闸，已恢复"), wt, t + H)  # fmt: skip
            await decisions.return_visit(
                s, op, oid, OrderReturnVisit(satisfaction=4), wt, t + 2 * H
            )
        # open: a customer's report from the app nobody has taken yet
        report = OrderReport(description="楼道灯不亮，电表箱有焦味", account_id=a1,
                             location="文三路 1 号楼道")  # fmt: skip
        _, new = await service.create_order(
            s, cust, "demo-app-report", report, wt, now - 15 * 60_000
        )
        made += new
        # open, on time: an appointment for next working day
        _, new = await intake("appointment", now - H, OrderKind.APPOINTMENT,
                              "预约上门校验电表", c2, a2, op2)  # fmt: skip
        made += new
        # overdue: a business request nobody approved (the sweep below pushes the approval on,
        # recorded, then escalates the overdue close) and an undispatched fault (escalated)
        _, new = await intake("business", now - 14 * DAY, OrderKind.BUSINESS,
                                "申请更名过户", c3, a3)  # fmt: skip
        made += new
        _, new = await intake("fault-late", now - 2 * H, OrderKind.FAULT, "单相电压偏低",
                              c1, a1)  # fmt: skip
        made += new
        await decisions.sweep(s, wt, now)
    return made
