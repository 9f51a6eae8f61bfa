"""Customers and accounts, scoped to the caller. No HTTP here."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, intersect, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import (
    Account,
    Customer,
    CustomerCategory,
    CustomerNameGram,
    Language,
)
from backend.accounts.schemas import AccountOut, CustomerDetail, CustomerOut, MeterRef
from backend.auth.guards import Caller
from backend.auth.scope import account_scope, customer_scope, meter_scope
from backend.errors import Conflict, NotFound
from backend.errors import ErrorCode as E
from backend.metering.models import Meter
from backend.paging import fetch_page


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(
        id=c.id, number=c.number, name=c.name, phone=c.phone,
        category=CustomerCategory(c.category), address=c.address, latitude=c.latitude,
        longitude=c.longitude, grid_id=c.grid_id, transformer_area_id=c.transformer_area_id,
        protected=c.protected, key_account_class=c.key_account_class, language=c.language,
    )  # fmt: skip


def account_out(a: Account) -> AccountOut:
    return AccountOut(
        id=a.id, number=a.number, customer_id=a.customer_id, kind=a.kind,
        balance_fen=a.balance_fen, credit_limit_fen=a.credit_limit_fen,
        cycle_start=a.cycle_start, opened_at=a.opened_at, closed_at=a.closed_at,
    )  # fmt: skip


def like_pattern(text: str) -> str:
    """``%text%`` with LIKE's own characters escaped (escape character: backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _grams(q: str, sqlite: bool) -> list[str]:
    """The grams a name holding ``q`` must have in ``customer_name_grams``: its pairs of
    characters (its one character when that is all), lower-cased as the database does (SQLite's
    ``lower`` folds ASCII only)."""
    low = "".join(ch.lower() if ch.isascii() else ch for ch in q) if sqlite else q.lower()
    if len(low) == 1:
        return [low]
    return sorted({low[i : i + 2] for i in range(len(low) - 1)})


def name_candidates(q: str, sqlite: bool) -> Select[int]:
    """The ids of customers whose name may hold ``q``: those with every gram of it, from the
    gram index (the match itself is checked on the few found: ``name_holds``)."""
    g = CustomerNameGram
    grams = [select(g.customer_id).where(g.gram == gram) for gram in _grams(q, sqlite)]
    if len(grams) == 1:
        return grams[0]
    both = intersect(*grams).subquery()  # a compound select inside another needs its own FROM
    return select(both.c.customer_id)


def name_holds(q: str) -> ColumnElement[bool]:
    return Customer.name.like(like_pattern(q), escape="\\")


def number_forms(q: str) -> list[str]:
    """A number as typed and upper-cased (typed in lower case, as SQLite's LIKE found it)."""
    return sorted({q, q.upper()})


def search_conditions(q: str, sqlite: bool) -> list[ColumnElement[bool]]:
    """A customer whose number is ``q`` or whose name holds ``q``. The candidates come from
    indexes (the number's, the name grams'), the match is then checked on the few found."""
    numbers = number_forms(q)
    by_number = select(Customer.id).where(Customer.number.in_(numbers))
    return [
        Customer.id.in_(union(name_candidates(q, sqlite), by_number).subquery().select()),
        or_(Customer.number.in_(numbers), name_holds(q)),
    ]


async def list_customers(
    session: AsyncSession,
    caller: Caller,
    *,
    q: str | None,
    grid_id: int | None,
    transformer_area_id: int | None,
    category: CustomerCategory | None,
    protected: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[CustomerOut], int]:
    conds: list[ColumnElement[bool]] = [customer_scope(caller)]
    if q is not None:
        conds += search_conditions(q, session.get_bind().dialect.name == "sqlite")
    if grid_id is not None:
        conds.append(Customer.grid_id == grid_id)
    if transformer_area_id is not None:
        conds.append(Customer.transformer_area_id == transformer_area_id)
    if category is not None:
        conds.append(Customer.category == category)
    if protected is not None:
        conds.append(Customer.protected.is_(protected))
    stmt = select(Customer).where(*conds).order_by(Customer.number)
    rows, total = await fetch_page(session, stmt, limit, offset)
    return [customer_out(r[0]) for r in rows], total


async def get_customer(session: AsyncSession, caller: Caller, customer_id: int) -> Customer:
    c = await session.scalar(
        select(Customer).where(Customer.id == customer_id, customer_scope(caller))
    )
    if c is None:
        raise NotFound(
            E.CUSTOMER_NOT_FOUND, f"customer {customer_id} not found", customer=customer_id
        )
    return c


async def set_language(
    session: AsyncSession, caller: Caller, customer_id: int, language: Language
) -> CustomerOut:
    """The customer's own choice, or staff's at their request; another's customer is 404."""
    c = await get_customer(session, caller, customer_id)
    c.language = language
    await session.commit()
    return customer_out(c)


async def customer_detail(
    session: AsyncSession, caller: Caller, customer_id: int
) -> CustomerDetail:
    c = await get_customer(session, caller, customer_id)
    accounts = await session.scalars(
        select(Account).where(Account.customer_id == c.id).order_by(Account.number)
    )
    meters = await session.scalars(
        select(Meter).where(Meter.customer_id == c.id, meter_scope(caller)).order_by(Meter.id)
    )
    return CustomerDetail(
        customer=customer_out(c),
        accounts=[account_out(a) for a in accounts],
        meters=[MeterRef(m.id, m.meter_id, m.status, m.account_id) for m in meters],
    )


async def get_account(session: AsyncSession, caller: Caller, account_id: int) -> Account:
    a = await session.scalar(select(Account).where(Account.id == account_id, account_scope(caller)))
    if a is None:
        raise NotFound(E.ACCOUNT_NOT_FOUND, f"account {account_id} not found", account=account_id)
    return a


def refuse_if_closed(account: Account) -> None:
    """A closed account (销户) takes no money: 409 ``account_closed``."""
    if account.closed_at is not None:
        raise Conflict(E.ACCOUNT_CLOSED, f"account {account.id} is closed", account=account.id)


def meters_of_customer(customer_id: int) -> Select[int]:
    return select(Meter.id).where(Meter.customer_id == customer_id)


def meters_of_account(account_id: int) -> Select[int]:
    return select(Meter.id).where(Meter.account_id == account_id)
