"""Customers and accounts under /api, with their consumption."""

from __future__ import annotations

from typing import Annotated

from litestar import get, put
from litestar.params import FromQuery, JSONBody, QueryParameter

from backend.accounts import service
from backend.accounts.models import CustomerCategory
from backend.accounts.schemas import (
    AccountOut,
    CustomerDetail,
    CustomerOut,
    CustomerPage,
    LanguageIn,
)
from backend.auth.guards import (
    EVERYONE,
    OPERATORS,
    STAFF,
    ApiController,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.auth.models import Role
from backend.metering import service as metering
from backend.metering.schemas import DailyOut, EnergyQuantity, MonthlyOut
from backend.paging import FromDay, FromMonth, Id, Limit, Offset, OptId, ToDay, ToMonth


class CustomerController(ApiController):
    path = "/api/customers"
    tags = ("customers",)

    @get("/", guards=[requires_role(*STAFF)], summary="List customers")
    async def list_customers(
        self,
        caller: CallerDep,
        db_session: DbSession,
        q: Annotated[
            str | None,
            QueryParameter(min_length=1, max_length=64, description="number or name part"),
        ] = None,
        grid_id: OptId = None,
        transformer_area_id: OptId = None,
        category: FromQuery[CustomerCategory | None] = None,
        protected: FromQuery[bool | None] = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> CustomerPage:
        """Staff only; inspectors see the customers of their own grids."""
        items, total = await service.list_customers(
            db_session, caller, q=q, grid_id=grid_id, transformer_area_id=transformer_area_id,
            category=category, protected=protected, limit=limit, offset=offset,
        )  # fmt: skip
        return CustomerPage(items, total, limit, offset)

    @get("/{customer_id:int}", guards=[requires_role(*EVERYONE)], summary="One customer")
    async def detail(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id
    ) -> CustomerDetail:
        """A customer with accounts and meters; a customer user may read only themselves."""
        return await service.customer_detail(db_session, caller, customer_id)

    @put(
        "/{customer_id:int}/language",
        guards=[requires_role(Role.CUSTOMER, *OPERATORS)],
        summary="Set the language a customer is written to",
    )
    async def set_language(
        self, caller: CallerDep, db_session: DbSession, customer_id: Id, data: JSONBody[LanguageIn]
    ) -> CustomerOut:
        """A customer sets their own (the PWA's language switch); an operator sets it at the
        customer's request. Notices and SMS are worded in it from then on."""
        return await service.set_language(db_session, caller, customer_id, data.language)

    @get(
        "/{customer_id:int}/consumption/daily",
        guards=[requires_role(*EVERYONE)],
        summary="Daily consumption of a customer",
    )
    async def daily(
        self,
        caller: CallerDep,
        db_session: DbSession,
        customer_id: Id,
        from_: FromDay,
        to: ToDay,
        quantity: FromQuery[EnergyQuantity | None] = None,
    ) -> list[DailyOut]:
        """The sum over all the customer's meters, replaced ones included."""
        await service.get_customer(db_session, caller, customer_id)
        ids = service.meters_of_customer(customer_id)
        return await metering.daily(db_session, ids, _q(quantity), from_, to)

    @get(
        "/{customer_id:int}/consumption/monthly",
        guards=[requires_role(*EVERYONE)],
        summary="Monthly consumption of a customer",
    )
    async def monthly(
        self,
        caller: CallerDep,
        db_session: DbSession,
        customer_id: Id,
        from_: FromMonth,
        to: ToMonth,
        quantity: FromQuery[EnergyQuantity | None] = None,
    ) -> list[MonthlyOut]:
        await service.get_customer(db_session, caller, customer_id)
        first, last = metering.month_days(from_, to)
        ids = service.meters_of_customer(customer_id)
        return metering.monthly(await metering.daily(db_session, ids, _q(quantity), first, last))


class AccountController(ApiController):
    path = "/api/accounts"
    tags = ("customers",)

    @get("/{account_id:int}", guards=[requires_role(*EVERYONE)], summary="One account")
    async def detail(self, caller: CallerDep, db_session: DbSession, account_id: Id) -> AccountOut:
        return service.account_out(await service.get_account(db_session, caller, account_id))

    @get(
        "/{account_id:int}/consumption/daily",
        guards=[requires_role(*EVERYONE)],
        summary="Daily consumption of an account",
    )
    async def daily(
        self,
        caller: CallerDep,
        db_session: DbSession,
        account_id: Id,
        from_: FromDay,
        to: ToDay,
        quantity: FromQuery[EnergyQuantity | None] = None,
    ) -> list[DailyOut]:
        await service.get_account(db_session, caller, account_id)
        ids = service.meters_of_account(account_id)
        return await metering.daily(db_session, ids, _q(quantity), from_, to)

    @get(
        "/{account_id:int}/consumption/monthly",
        guards=[requires_role(*EVERYONE)],
        summary="Monthly consumption of an account",
    )
    async def monthly(
        self,
        caller: CallerDep,
        db_session: DbSession,
        account_id: Id,
        from_: FromMonth,
        to: ToMonth,
        quantity: FromQuery[EnergyQuantity | None] = None,
    ) -> list[MonthlyOut]:
        await service.get_account(db_session, caller, account_id)
        first, last = metering.month_days(from_, to)
        ids = service.meters_of_account(account_id)
        return metering.monthly(await metering.daily(db_session, ids, _q(quantity), first, last))


def _q(quantity: EnergyQuantity | None) -> str | None:
    return quantity.value if quantity is not None else None
