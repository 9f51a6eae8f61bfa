"""Whether an account's ledger is the exact bill of what its meters consumed: the kWh billed
are the kWh consumption reports, and the posted fen are every interval rated from scratch in
time order, rounded once (docs/prepaid.md)."""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Customer
from backend.metering.consumption import walk_from
from backend.metering.models import ConsumptionDaily
from backend.prepaid import ledger
from backend.prepaid.models import BillingState, Charge
from backend.tariffs import service as tariff_service
from backend.tariffs.rating import rate_interval, round_fen


async def ledger_mismatches(
    s: AsyncSession, account_id: int, meters: list[int], tz: tzinfo
) -> list[str]:
    """What differs between the account's ledger and its exact bill (empty: they agree)."""
    wrong: list[str] = []
    billed = await s.scalar(
        select(func.coalesce(func.sum(Charge.wh), 0)).where(
            Charge.account_id == account_id, Charge.reversed_at.is_(None)
        )
    )
    counted = await s.scalar(
        select(func.coalesce(func.sum(ConsumptionDaily.wh), 0)).where(
            ConsumptionDaily.meter_pk.in_(meters), ConsumptionDaily.quantity == "energy_import"
        )
    )
    if billed != counted:
        wrong.append(f"account {account_id}: {billed} Wh billed, {counted} Wh consumed")
    account = await ledger.lock_account(s, account_id)
    customer = await s.get(Customer, account.customer_id)
    assert customer is not None
    schedule = (await tariff_service.schedules(s))[customer.category]
    intervals = []
    for pk in meters:
        _, walk = await walk_from(s, pk, "energy_import", None, tz)
        intervals += [(iv.start.ts, pk, iv.end.ts, iv.wh) for iv in walk.intervals if iv.wh]
    counters: dict = {}  # type: ignore[type-arg]
    exact = Decimal(0)
    for t0, _pk, t1, wh in sorted(intervals):
        lines = rate_interval(schedule, tz, account.cycle_start, t0, t1, wh, counters)
        exact += sum((ln.amount for ln in lines), Decimal(0))
    state = await s.get(BillingState, account_id)
    total = Decimal(state.exact_total_cny) if state else Decimal(0)
    posted = state.posted_fen if state else 0
    if total != exact:
        wrong.append(f"account {account_id}: exact total {total}, rated from scratch {exact}")
    if posted != round_fen(exact):
        wrong.append(f"account {account_id}: {posted} fen posted, exact bill {round_fen(exact)}")
    if (in_ledger := await ledger.ledger_sum(s, account_id)) != -posted:
        wrong.append(f"account {account_id}: ledger {in_ledger} fen, posted {posted}")
    return wrong
