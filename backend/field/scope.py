"""Who may see what in field work: inspectors their own grids (网格), the back office everything.

Built on ``backend.auth.scope``: every query for a meter, customer, reading or task goes
through these helpers, so an object outside the caller's grid is simply not found (404), never
"forbidden" (which would confirm that it exists).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.guards import Caller
from backend.auth.scope import customer_scope
from backend.errors import ErrorCode as E
from backend.errors import NotFound
from backend.field.grids.models import Grid
from backend.metering.models import Meter


async def grids_of(session: AsyncSession, inspector_id: int) -> frozenset[int]:
    rows = await session.scalars(select(Grid.id).where(Grid.inspector_id == inspector_id))
    return frozenset(rows)


async def visible_meter(
    session: AsyncSession, caller: Caller, meter_id: str
) -> tuple[Meter, Customer | None]:
    """The meter by its contract id, if the caller's grids include it."""
    query = (
        select(Meter, Customer)
        .outerjoin(Customer, Customer.id == Meter.customer_id)
        .where(Meter.meter_id == meter_id, customer_scope(caller))
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(
            E.METER_NOT_FOUND, f"meter {meter_id!r} not found", field="meter_id", meter=meter_id
        )
    return row[0], row[1]


async def visible_meter_pk(
    session: AsyncSession, caller: Caller, meter_pk: int
) -> tuple[Meter, Customer | None]:
    query = (
        select(Meter, Customer)
        .outerjoin(Customer, Customer.id == Meter.customer_id)
        .where(Meter.id == meter_pk, customer_scope(caller))
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(E.METER_NOT_FOUND, f"meter {meter_pk} not found", meter=meter_pk)
    return row[0], row[1]


async def visible_customer(session: AsyncSession, caller: Caller, customer_id: int) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id, customer_scope(caller))
    )
    if customer is None:
        raise NotFound(
            E.CUSTOMER_NOT_FOUND,
            f"customer {customer_id} not found",
            field="customer_id",
            customer=customer_id,
        )
    return customer


def meter_position(meter: Meter, customer: Customer | None) -> tuple[float, float] | None:
    """Where the meter is: its own registered position, else its customer's."""
    if meter.latitude is not None and meter.longitude is not None:
        return (meter.latitude, meter.longitude)
    if customer is not None and customer.latitude is not None and customer.longitude is not None:
        return (customer.latitude, customer.longitude)
    return None
