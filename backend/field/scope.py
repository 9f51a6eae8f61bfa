"""Who may see what in field work: inspectors their own grids (网格), staff everything.

Every query for a meter, customer, reading or task goes through these helpers, so an object
outside the caller's grid is simply not found (404), never "forbidden" (which would confirm it
exists).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.auth.models import Role, User
from backend.field.errors import NotFound
from backend.field.models import Grid
from backend.metering.models import Meter

STAFF = frozenset({Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN})


@dataclass(frozen=True)
class Actor:
    """The caller as field work sees it."""

    user_id: int
    role: Role
    grid_ids: frozenset[int] | None  # None: every grid (supervisors, operators, admins)

    @property
    def is_staff(self) -> bool:
        return self.grid_ids is None

    def customer_filter(self) -> ColumnElement[bool]:
        """A WHERE clause limiting ``customers`` to the caller's grids."""
        if self.grid_ids is None:
            return true()
        return Customer.grid_id.in_(sorted(self.grid_ids))


async def grids_of(session: AsyncSession, inspector_id: int) -> frozenset[int]:
    rows = await session.scalars(select(Grid.id).where(Grid.inspector_id == inspector_id))
    return frozenset(rows)


async def load_actor(session: AsyncSession, user_id: int) -> Actor:
    user = await session.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(f"user {user_id} not found")
    if user.role in STAFF:
        return Actor(user.id, user.role, None)
    if user.role == Role.INSPECTOR:
        return Actor(user.id, user.role, await grids_of(session, user.id))
    return Actor(user.id, user.role, frozenset())  # customers see no field data


async def visible_meter(
    session: AsyncSession, actor: Actor, meter_id: str
) -> tuple[Meter, Customer | None]:
    """The meter by its contract id, if the caller's grids include it."""
    query = (
        select(Meter, Customer)
        .outerjoin(Customer, Customer.id == Meter.customer_id)
        .where(Meter.meter_id == meter_id)
    )
    if not actor.is_staff:
        query = query.where(actor.customer_filter())
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"meter {meter_id!r} not found", "meter_id")
    return row[0], row[1]


async def visible_meter_pk(
    session: AsyncSession, actor: Actor, meter_pk: int
) -> tuple[Meter, Customer | None]:
    query = (
        select(Meter, Customer)
        .outerjoin(Customer, Customer.id == Meter.customer_id)
        .where(Meter.id == meter_pk)
    )
    if not actor.is_staff:
        query = query.where(actor.customer_filter())
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"meter {meter_pk} not found")
    return row[0], row[1]


async def visible_customer(session: AsyncSession, actor: Actor, customer_id: int) -> Customer:
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id, actor.customer_filter())
    )
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", "customer_id")
    return customer


def meter_position(meter: Meter, customer: Customer | None) -> tuple[float, float] | None:
    """Where the meter is: its own registered position, else its customer's."""
    if meter.latitude is not None and meter.longitude is not None:
        return (meter.latitude, meter.longitude)
    if customer is not None and customer.latitude is not None and customer.longitude is not None:
        return (customer.latitude, customer.longitude)
    return None
