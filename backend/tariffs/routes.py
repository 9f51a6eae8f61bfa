"""Tariffs under /api: the tariffs in force (staff), an account's tariff assignments (staff
read, back office assign) and its current tier (the customer and staff in scope). Accounts
are looked up within the caller's scope: another customer's account is 404."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from litestar import Response, get, post, put
from litestar.datastructures import State
from litestar.params import JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from sqlalchemy.exc import IntegrityError

from backend.accounts import service as accounts
from backend.accounts.models import Account, Customer
from backend.auth.guards import (
    BACK_OFFICE,
    EVERYONE,
    STAFF,
    ApiController,
    CallerDep,
    DbSession,
    requires_role,
)
from backend.controllers import answers, now_ms
from backend.errors import Conflict, ErrorCode, Invalid, NotFound, Unprocessable
from backend.paging import Id
from backend.prepaid import billing
from backend.tariffs import service
from backend.tariffs.bill import Bill
from backend.tariffs.model import SCHEDULE_KEY, Period, Tariff, TariffError
from backend.tariffs.models import AccountTariffTerms, TariffAssignment
from backend.tariffs.schemas import (
    AssignmentIn,
    AssignmentOut,
    AssignmentsOut,
    ComparisonOut,
    SeasonOut,
    TariffOption,
    TariffOptionsOut,
    TariffOut,
    TariffsInForce,
    TermsIn,
    TermsOut,
    TierOut,
)
from backend.types import midnight_ms

Month = Annotated[
    str,
    PathParameter(
        pattern=r"^(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])$", description="YYYY-MM, local"
    ),
]
SinceDay = Annotated[date | None, QueryParameter(name="from", description="first local day")]
UntilDay = Annotated[date | None, QueryParameter(name="to", description="last local day")]
OnDay = Annotated[
    date | None, QueryParameter(name="on", description="local day (YYYY-MM-DD); default today")
]


def _today(state: State) -> date:
    """The local day by the server's clock (``now_ms``: tests pin ``app.state.clock``)."""
    return datetime.fromtimestamp(now_ms(state) / 1000, ZoneInfo(state.settings.timezone)).date()


def _tariff_out(t: Tariff, schedule: str, until: date | None) -> TariffOut:
    return TariffOut(
        code=t.code, name=t.name, category=t.category, schedule=schedule,
        effective_from=t.effective_from, until=until, cycle=t.cycle, tiers_wh=list(t.tiers_wh),
        periods=sorted(t.periods, key=list(Period).index),
        prices={p.value: [str(x) for x in row] for p, row in t.prices.items()},
        flat_only=t.flat_only,
        seasons=[SeasonOut(list(x.months), list(x.tiers_wh)) for x in t.seasons],
        basic_charge_per=t.basic_charge_per,
        basic_charge_price=None if t.basic_charge_price is None else str(t.basic_charge_price),
        power_factor_target=(
            None if t.power_factor_target is None else str(t.power_factor_target)
        ),
    )  # fmt: skip


def _assignment_out(a: TariffAssignment) -> AssignmentOut:
    return AssignmentOut(
        a.id, a.account_id, a.schedule, a.effective_from, a.assigned_by, a.assigned_at
    )


async def _category(db_session: DbSession, account: Account) -> Customer:
    customer = await db_session.get(Customer, account.customer_id)
    assert customer is not None
    return customer


class TariffController(ApiController):
    path = "/api/tariffs"
    tags = ("tariffs",)

    @get("/", guards=[requires_role(*STAFF)], summary="Tariffs in force")
    async def in_force(
        self, db_session: DbSession, state: State, on: OnDay = None
    ) -> TariffsInForce:
        """The tariff of every schedule in force on a local day (default today), with the
        day it ends (the next tariff of its schedule takes over) and its exact prices."""
        day = on or _today(state)
        rows = service.in_force(await service.schedules(db_session), day)
        return TariffsInForce(day, [_tariff_out(r.tariff, r.schedule, r.until) for r in rows])


class TariffAccountController(ApiController):
    path = "/api/accounts"
    tags = ("tariffs",)

    @get(
        "/{account_id:int}/tariff-assignments", guards=[requires_role(*STAFF)],
        summary="Tariff assignments",
    )  # fmt: skip
    async def assignments(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, state: State
    ) -> AssignmentsOut:
        """The schedules the account is billed on, by effective date, and the one today."""
        account = await accounts.get_account(db_session, caller, account_id)
        customer = await _category(db_session, account)
        rows = await service.assignments(db_session, account.id)
        today = _today(state)
        current = next(
            (r.schedule for r in reversed(rows) if r.effective_from <= today),
            customer.category.value,
        )
        return AssignmentsOut(
            account.id, customer.category.value, current, [_assignment_out(r) for r in rows]
        )

    @post(
        "/{account_id:int}/tariff-assignments", guards=[requires_role(*BACK_OFFICE)],
        status_code=HTTP_201_CREATED, responses=answers(NotFound, Conflict, Unprocessable),
        summary="Assign a tariff schedule",
    )  # fmt: skip
    async def assign(
        self, data: JSONBody[AssignmentIn], caller: CallerDep, db_session: DbSession,
        account_id: Id, state: State,
    ) -> Response[AssignmentOut]:  # fmt: skip
        """Bill the account on ``schedule`` from ``effective_from`` (local midnight) until
        its next assignment. The same assignment again answers 200 with the stored one;
        another schedule on a day that has one is 409 (assignments are never edited: a
        change is a new one). A day already billed is re-rated at once: charges from that
        day on are reversed and posted again at the assigned tariff."""
        account = await accounts.get_account(db_session, caller, account_id)
        customer = await _category(db_session, account)
        try:
            row, created = await service.assign(
                db_session, account, customer.category, data.schedule, data.effective_from,
                caller.username,
            )  # fmt: skip
            out = _assignment_out(row)
            meters = await service.meters_of(db_session, account.id)
            await db_session.commit()
        except IntegrityError:  # the same day assigned by a request running beside this one
            await db_session.rollback()
            raced = await service.same_day(
                db_session, account_id, data.schedule, data.effective_from
            )
            if raced is None:
                raise
            return Response(_assignment_out(raced), status_code=HTTP_200_OK)
        if created and state.settings.prepaid_billing and meters:
            tz = ZoneInfo(state.settings.timezone)
            ms = midnight_ms(data.effective_from, tz)
            await billing.bill_meters(state.sessions, dict.fromkeys(meters, ms), tz)
        return Response(out, status_code=HTTP_201_CREATED if created else HTTP_200_OK)

    @get(
        "/{account_id:int}/tariff-terms", guards=[requires_role(*STAFF)], summary="Tier terms"
    )  # fmt: skip
    async def terms(self, caller: CallerDep, db_session: DbSession, account_id: Id) -> TermsOut:
        """The account's 年阶梯 cycle start, household-size allowance and proration."""
        account = await accounts.get_account(db_session, caller, account_id)
        t = await db_session.get(AccountTariffTerms, account.id)
        return TermsOut(
            account.id, account.cycle_start, t.household_extra_kwh_month if t else 0,
            t.prorate_from if t else None, t.capacity_kva if t else None,
        )  # fmt: skip

    @get("/{account_id:int}/bills/{month:str}", guards=[requires_role(*EVERYONE)], summary="Bill")
    async def bill(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, month: Month, state: State
    ) -> Bill:
        """The bill of a local month (YYYY-MM): one line per tier and period of the energy
        billed, the basic charge of a two-part tariff, the power-factor adjustment; each line
        a code with parameters and its fen; the lines sum to the total. Due on the 15th of the
        next month."""
        account = await accounts.get_account(db_session, caller, account_id)
        customer = await _category(db_session, account)
        tz = ZoneInfo(state.settings.timezone)
        return await service.monthly_bill(db_session, account, customer.category, month, tz)

    @put(
        "/{account_id:int}/tariff-terms", guards=[requires_role(*BACK_OFFICE)],
        responses=answers(Invalid), summary="Set tier terms",
    )  # fmt: skip
    async def set_terms(
        self, data: JSONBody[TermsIn], caller: CallerDep, db_session: DbSession,
        account_id: Id, state: State,
    ) -> TermsOut:  # fmt: skip
        """Set the account's 年阶梯 cycle start, its household-size allowance (every tier
        threshold raised by N kWh a month of the cycle) and the day its first cycle is
        prorated from. A change re-rates everything the account was billed (the tier
        counters depend on them); the same terms again change nothing."""
        account = await accounts.get_account(db_session, caller, account_id)
        changed = await service.set_terms(
            db_session, account, cycle_start=data.cycle_start,
            household_extra_kwh_month=data.household_extra_kwh_month,
            prorate_from=data.prorate_from, capacity_kva=data.capacity_kva,
            actor=caller.username,
        )  # fmt: skip
        meters = await service.meters_of(db_session, account.id)
        await db_session.commit()
        if changed and state.settings.prepaid_billing and meters:
            tz = ZoneInfo(state.settings.timezone)
            await billing.bill_meters(state.sessions, dict.fromkeys(meters, 0), tz)
        return TermsOut(
            account.id, data.cycle_start, data.household_extra_kwh_month, data.prorate_from,
            data.capacity_kva, rerated=changed,
        )  # fmt: skip

    @get(
        "/{account_id:int}/tariff-options", guards=[requires_role(*EVERYONE)],
        summary="Schedules to compare",
    )  # fmt: skip
    async def options(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, state: State
    ) -> TariffOptionsOut:
        """The schedules of the account's category in force today, the one it is billed on
        marked: what its customer may compare with ``tariff-comparison`` (R45). Customers see
        their own accounts' only (another's is 404); the tariffs list itself is staff-only."""
        account = await accounts.get_account(db_session, caller, account_id)
        customer = await _category(db_session, account)
        today = _today(state)
        rows = await service.assignments(db_session, account.id)
        current = next(
            (r.schedule for r in reversed(rows) if r.effective_from <= today),
            customer.category.value,
        )
        loaded = await service.schedules(db_session)
        items = [
            TariffOption(
                r.schedule,
                r.tariff.name,
                len(r.tariff.periods) > 1 and not r.tariff.flat_only,
                r.schedule == current,
                max(today - timedelta(days=364), loaded[r.schedule].tariffs[0].effective_from),
            )
            for r in service.in_force(loaded, today)
            if all(t.category is customer.category for t in loaded[r.schedule].tariffs)
        ]
        items.sort(key=lambda o: (not o.current, o.schedule))
        return TariffOptionsOut(account.id, customer.category.value, today, items)

    @get(
        "/{account_id:int}/tariff-comparison", guards=[requires_role(*EVERYONE)],
        responses=answers(NotFound, Unprocessable), summary="Compare a schedule",
    )  # fmt: skip
    async def comparison(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, state: State,
        schedule: Annotated[str, QueryParameter(pattern=f"^{SCHEDULE_KEY.pattern}$")],
        from_: SinceDay = None, to: UntilDay = None,
    ) -> ComparisonOut:  # fmt: skip
        """What the account's billed consumption from ``from`` to ``to`` (local days,
        inclusive; default the last 365 days) would have cost on another schedule of its
        category: time of use against flat for its own last year (R45)."""
        account = await accounts.get_account(db_session, caller, account_id)
        customer = await _category(db_session, account)
        to_day = to or _today(state)
        from_day = from_ or to_day - timedelta(days=364)
        if to_day < from_day or (to_day - from_day).days > 400:
            raise Invalid(
                ErrorCode.RANGE_TOO_LONG if to_day >= from_day else ErrorCode.END_BEFORE_START,
                "from..to must be a stretch of at most 401 days", field="from",
            )  # fmt: skip
        loaded = await service.schedules(db_session)
        other = loaded.get(schedule)
        if other is None:
            raise NotFound(
                ErrorCode.TARIFF_SCHEDULE_NOT_FOUND, f"no tariff schedule {schedule!r}",
                field="schedule", schedule=schedule,
            )  # fmt: skip
        if any(t.category is not customer.category for t in other.tariffs):
            raise Unprocessable(
                ErrorCode.TARIFF_CATEGORY_MISMATCH, f"{schedule!r} is another category's",
                field="schedule", schedule=schedule, category=customer.category.value,
            )  # fmt: skip
        tz = ZoneInfo(state.settings.timezone)
        lo, hi = midnight_ms(from_day, tz), midnight_ms(to_day + timedelta(days=1), tz)
        try:
            c = await service.compare(db_session, account, other, schedule, lo, hi, tz)
        except TariffError:
            raise Unprocessable(
                ErrorCode.TARIFF_NOT_IN_FORCE, f"{schedule!r} does not cover the stretch",
                field="from", schedule=schedule, day=from_day.isoformat(),
            ) from None  # fmt: skip
        return ComparisonOut(
            account.id, schedule, from_day, to_day, c.energy_wh, c.billed_fen,
            c.alternative_fen, c.alternative_fen - c.billed_fen,
        )  # fmt: skip

    @get("/{account_id:int}/tier", guards=[requires_role(*EVERYONE)], summary="Current tier")
    async def tier(
        self, caller: CallerDep, db_session: DbSession, account_id: Id, state: State
    ) -> TierOut | None:
        """Where the account stands in its tariff's tiers today (阶梯): the tier, what is
        used in the cycle and what is left in the tier. null: no tariff in force."""
        account = await accounts.get_account(db_session, caller, account_id)
        customer = await _category(db_session, account)
        try:
            schedule = await service.account_schedule(
                db_session, account.id, customer.category, await service.schedules(db_session)
            )
            if schedule is None:
                return None
            now = service.tier_now(
                schedule, billing.anchor_of(account), _today(state),
                await billing.used_by_cycle(db_session, account.id),
                await service.tier_terms(db_session, account.id),
            )  # fmt: skip
        except TariffError:
            return None
        t = now.tariff
        period = Period.FLAT if Period.FLAT in t.prices else sorted(t.prices)[0]
        return TierOut(
            account_id=account.id, tariff=t.code, tariff_name=t.name, cycle=now.cycle,
            cycle_start=now.cycle_start, cycle_end=now.cycle_end, tier=now.tier,
            tiers=now.tiers, used_wh=now.used_wh, next_threshold_wh=now.next_threshold_wh,
            left_wh=now.left_wh, price=str(t.prices[period][now.tier - 1]),
        )  # fmt: skip
