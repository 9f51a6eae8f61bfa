"""Owner-scoped query conditions: the second half of "authorise twice".

Every service that reads customers, accounts or meters adds one of these to its WHERE clause.
An object outside the caller's scope is then simply not found, and the route answers 404.

* back office (supervisor, operator, admin): everything;
* inspector (抄表员 / 客户经理): customers whose grid (网格) they own, and those customers'
  accounts and meters;
* staff scoped to an organisation unit (R110, ``users.org_unit_id``): customers of every grid
  below that unit, plus an inspector's own grids; a back-office user without a unit sees all;
* customer: themselves, their accounts and meters;
* anything else: nothing (deny by default).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, ScalarSelect, false, select, true

from backend.accounts.models import Account, Customer
from backend.auth.guards import Caller
from backend.auth.models import Role
from backend.metering.models import Meter


def grid_in_scope(caller: Caller, grid_id: int | None) -> bool:
    """Whether a thing placed in ``grid_id`` (an area, an application) is the caller's to see:
    the unscoped back office sees all; anyone else only the grids they hold."""
    return caller.unscoped or (grid_id is not None and grid_id in caller.grid_ids)


def _customer_ids_in_grids(caller: Caller) -> ScalarSelect[int]:
    return select(Customer.id).where(Customer.grid_id.in_(caller.grid_ids)).scalar_subquery()


def customer_scope(caller: Caller) -> ColumnElement[bool]:
    if caller.unscoped:
        return true()
    if caller.role == Role.CUSTOMER and caller.customer_id is not None:
        return Customer.id == caller.customer_id
    if caller.role != Role.CUSTOMER and caller.grid_ids:
        return Customer.grid_id.in_(caller.grid_ids)
    return false()


def _owner_scope(column: ColumnElement[int | None], caller: Caller) -> ColumnElement[bool]:
    if caller.unscoped:
        return true()
    if caller.role == Role.CUSTOMER and caller.customer_id is not None:
        return column == caller.customer_id
    if caller.role != Role.CUSTOMER and caller.grid_ids:
        return column.in_(_customer_ids_in_grids(caller))
    return false()


def account_scope(caller: Caller) -> ColumnElement[bool]:
    return _owner_scope(Account.customer_id, caller)  # type: ignore[arg-type]


def meter_scope(caller: Caller) -> ColumnElement[bool]:
    """Meters without a customer (pending, spare) are visible to the back office only."""
    return _owner_scope(Meter.customer_id, caller)  # type: ignore[arg-type]
