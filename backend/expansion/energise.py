"""送电: energising an application makes the customer, the account (prepaid or postpaid by the
supply type), its tariff assignment, the meter (with its agent, protocol and address) and its
placement in the transformer area — in one transaction, once.

The application row is claimed first by a compare-and-set (``status = open, step = energise,
version = v``); only the request that wins it creates anything, and it creates everything
before it commits. A second request — a resend or a parallel tap — finds the application
energised and answers it as it is: nothing is created twice.

A meter the agent already reports (seen on the wire before anyone registered it: status
``pending``, no customer) is adopted rather than created: that is how a spare meter address in
an agent's configuration becomes a customer's meter (docs/expansion.md).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer, CustomerCategory
from backend.areas.models import MeterPlacement
from backend.auth.guards import Caller
from backend.auth.models import Role, User
from backend.errors import Conflict, Invalid, NotFound
from backend.errors import ErrorCode as E
from backend.expansion.models import Application, ApplicationEvent, ApplicationKind, ApplicationStep
from backend.expansion.models import ApplicationStatus as S
from backend.expansion.process import Book
from backend.expansion.schemas import ApplicationView, Energise
from backend.expansion.service import may_act, still_open
from backend.expansion.views import entry, find, view
from backend.field.grids.models import TransformerArea
from backend.metering.models import Agent, Meter, MeterStatus
from backend.tariffs import service as tariffs
from backend.types import from_epoch_ms


async def energise(
    session: AsyncSession,
    caller: Caller,
    app_id: int,
    body: Energise,
    book: Book,
    tz: str,
    now_ms: int,
) -> tuple[ApplicationView, bool]:
    """(application, True) when this request energised it; (it, False) when it already was."""
    row = await find(session, caller, app_id)
    if row.status is S.ENERGISED:
        return await view(session, row, book, now_ms), False
    still_open(row)
    if row.step != "energise" or row.version != body.version:
        raise Conflict(
            E.APPLICATION_MOVED,
            f"application {app_id} is not at energise",
            application=app_id,
            step="energise",
        )
    may_act(caller, book.of(row.supply_type).step("energise").role, "energise")
    area_id = body.transformer_area_id or row.transformer_area_id
    if area_id is None or await session.get(TransformerArea, area_id) is None:
        raise Invalid(
            E.AREA_NOT_FOUND,
            f"transformer area {area_id} does not exist",
            field="transformer_area_id",
            area=area_id or 0,
        )
    if body.agent_id is not None and await session.get(Agent, body.agent_id) is None:
        raise Invalid(
            E.AGENT_NOT_FOUND,
            f"agent {body.agent_id} not found",
            field="agent_id",
            agent=body.agent_id,
        )
    now = from_epoch_ms(now_ms)
    today = now.astimezone(ZoneInfo(tz)).date()
    claimed = await session.execute(
        update(Application)
        .where(
            Application.id == app_id,
            Application.version == body.version,
            Application.step == "energise",
            Application.status == S.OPEN,
        )
        .values(
            status=S.ENERGISED,
            version=Application.version + 1,
            energised_at=now,
            meter_id=body.meter_id,
            meter_protocol=body.protocol,
            meter_address=body.address,
            agent_id=body.agent_id,
            transformer_area_id=area_id,
        )
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        await session.rollback()  # another request won it: answer what it made
        row = await find(session, caller, app_id)
        if row.status is S.ENERGISED:
            return await view(session, row, book, now_ms), False
        raise Conflict(
            E.APPLICATION_MOVED,
            f"application {app_id} was moved meanwhile",
            application=app_id,
            step="energise",
        )
    try:
        customer, account = await _customer_and_account(session, caller, row, book, today, now)
        if row.kind is ApplicationKind.NEW:
            await _tariff(session, caller, account, row, body, today)
        meter = await _meter(session, body, customer, account, today)
        session.add(MeterPlacement(meter_pk=meter.id, transformer_area_id=area_id, from_day=today))
        await session.execute(
            update(Application)
            .where(Application.id == app_id)
            .values(
                created_customer_id=customer.id if row.kind is ApplicationKind.NEW else None,
                account_id=account.id,
                meter_pk=meter.id,
            )
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(ApplicationStep)
            .where(
                ApplicationStep.application_id == app_id,
                ApplicationStep.step == "energise",
                ApplicationStep.finished_at.is_(None),
            )
            .values(finished_at=now, finished_by=caller.user_id)
        )
        session.add(
            entry(
                app_id,
                now,
                caller.user_id,
                ApplicationEvent.ENERGISED,
                "energise",
                meter=body.meter_id,
                account=account.number,
            )
        )
        await session.commit()
    except BaseException:
        await session.rollback()  # nothing of it stays: the application is open again
        raise
    session.expire_all()
    return await view(session, await find(session, caller, app_id), book, now_ms), True


async def _customer_and_account(
    session: AsyncSession,
    caller: Caller,
    row: Application,
    book: Book,
    today: date,
    now: datetime,
) -> tuple[Customer, Account]:
    if row.kind is ApplicationKind.INCREASE:
        # 增容: the customer and account exist; the account's capacity change is a lifecycle
        # change of its own (docs/expansion.md), energising links the application to them
        customer = await session.get(Customer, row.customer_id)
        account = await session.scalar(
            select(Account).where(Account.customer_id == row.customer_id).order_by(Account.id)
        )
        if customer is None or account is None:
            raise NotFound(
                E.ACCOUNT_NOT_FOUND, "the customer has no account to increase", account=0
            )
        return customer, account
    area = (
        await session.get(TransformerArea, row.transformer_area_id)
        if (row.transformer_area_id)
        else None
    )
    customer = Customer(
        number=row.number,
        name=row.applicant_name,
        phone=row.phone,
        category=CustomerCategory(row.category),
        address=row.address,
        grid_id=row.grid_id or (area.grid_id if area else None),
        transformer_area_id=row.transformer_area_id,
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    await session.flush()
    account = Account(
        number=f"A{row.number}",
        customer_id=customer.id,
        kind=book.of(row.supply_type).account,
        cycle_start=today,
        opened_at=now,
    )
    session.add(account)
    await session.flush()
    if row.applicant_user_id is not None:  # an applicant without a customer now has one
        await session.execute(
            update(User)
            .where(
                User.id == row.applicant_user_id,
                User.role == Role.CUSTOMER,
                User.customer_id.is_(None),
            )
            .values(customer_id=customer.id)
        )
    return customer, account


async def _tariff(
    session: AsyncSession,
    caller: Caller,
    account: Account,
    row: Application,
    body: Energise,
    today: date,
) -> None:
    """The schedule named, or the category's default when one is loaded (with none loaded the
    account follows its category's default from the day one is: no row to make yet)."""
    schedule = body.schedule
    if schedule is None and row.category in await tariffs.schedules(session):
        schedule = row.category
    if schedule is not None:
        category = CustomerCategory(row.category)
        await tariffs.assign(session, account, category, schedule, today, caller.username)


async def _meter(
    session: AsyncSession, body: Energise, customer: Customer, account: Account, today: date
) -> Meter:
    meter = await session.scalar(select(Meter).where(Meter.meter_id == body.meter_id))
    if meter is not None and (
        meter.customer_id is not None or meter.status is not MeterStatus.PENDING
    ):
        raise Conflict(
            E.METER_ID_TAKEN,
            f"meter {body.meter_id} is already registered",
            field="meter_id",
            meter=body.meter_id,
        )
    if meter is None:
        meter = Meter(meter_id=body.meter_id)
        session.add(meter)
    meter.serial = meter.serial or body.meter_id.upper()
    meter.protocol, meter.address, meter.agent_id = body.protocol, body.address, body.agent_id
    meter.customer_id, meter.account_id = customer.id, account.id
    meter.status = MeterStatus.ACTIVE
    meter.installed_on = today
    meter.latitude, meter.longitude = customer.latitude, customer.longitude
    await session.flush()
    return meter
