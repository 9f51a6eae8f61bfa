"""Storing and looking up tariffs; each account's tariff assignments and current tier."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, CustomerCategory
from backend.errors import Conflict, ErrorCode, Invalid, NotFound, Unprocessable
from backend.expansion.changes.history import CategoryMove, capacity_history, category_moves
from backend.metering.intervals import ACCEPTED_QUALITIES
from backend.metering.models import Meter, Reading
from backend.prepaid.models import Charge
from backend.tariffs.bill import Bill, Meterage, compose, month_days
from backend.tariffs.model import Cycle, Tariff, TariffError, tariff_from_json, tariff_to_json
from backend.tariffs.models import AccountTariffTerms, TariffAssignment, TariffRecord
from backend.tariffs.rating import (
    AccountSchedule,
    Line,
    Schedule,
    TierTerms,
    cycle_start,
    next_cycle_start,
    rate_interval,
    round_fen,
    thresholds,
)
from protocols.contract import Quantity


async def store_tariffs(session: AsyncSession, tariffs: Sequence[Tariff]) -> tuple[int, int]:
    """Add tariffs; a code already stored with the same definition is skipped. A code stored
    with a different definition is refused: a published tariff is never edited in place
    (bills were computed from it), a change is a new tariff with a later effective date.
    Returns (added, unchanged)."""
    added = unchanged = 0
    for t in tariffs:
        existing = await session.scalar(select(TariffRecord).where(TariffRecord.code == t.code))
        body = tariff_to_json(t).decode()
        if existing is not None:
            if tariff_from_json(existing.definition) != t:
                raise TariffError(
                    f"tariff {t.code!r} is already stored with a different definition; "
                    "give the change a new code and a later effective_from"
                )
            unchanged += 1
            continue
        clash = await session.scalar(
            select(TariffRecord.code).where(
                TariffRecord.schedule == t.schedule_key,
                TariffRecord.effective_from == t.effective_from,
            )
        )
        if clash is not None:
            raise TariffError(
                f"tariff {t.code!r}: {clash!r} already takes effect in schedule "
                f"{t.schedule_key} on {t.effective_from.isoformat()}"
            )
        session.add(
            TariffRecord(
                code=t.code,
                name=t.name,
                category=t.category,
                schedule=t.schedule_key,
                effective_from=t.effective_from,
                definition=body,
            )
        )
        added += 1
    await session.flush()
    return added, unchanged


@functools.lru_cache(maxsize=1024)
def _stored(definition: str) -> Tariff:
    """A stored definition's tariff, decoded once: every billing round reads the tariffs, and
    the same (frozen) object each time keeps rating's per-day periods, worked out per tariff
    object, from being worked out — and held — again every round."""
    return tariff_from_json(definition)


async def all_tariffs(session: AsyncSession) -> list[Tariff]:
    rows = (await session.scalars(select(TariffRecord).order_by(TariffRecord.effective_from))).all()
    return [_stored(r.definition) for r in rows]


async def schedules(session: AsyncSession) -> dict[str, Schedule]:
    """Every schedule by its key. A category's default schedule is keyed by the category's
    value, so ``schedules[CustomerCategory.RESIDENTIAL]`` finds it (a StrEnum is its str)."""
    by_key: dict[str, list[Tariff]] = defaultdict(list)
    for t in await all_tariffs(session):
        by_key[t.schedule_key].append(t)
    return {k: Schedule(ts) for k, ts in by_key.items()}


async def meters_of(session: AsyncSession, account_id: int) -> list[int]:
    return list(
        (await session.scalars(select(Meter.id).where(Meter.account_id == account_id))).all()
    )


async def assignments(session: AsyncSession, account_id: int) -> list[TariffAssignment]:
    q = select(TariffAssignment).where(TariffAssignment.account_id == account_id)
    return list((await session.scalars(q.order_by(TariffAssignment.effective_from))).all())


async def account_schedule(
    session: AsyncSession,
    account_id: int,
    category: CustomerCategory,
    schedules: Mapping[str, Schedule],
) -> Schedule | None:
    """The tariffs an account is billed on: its category's default schedule, switched at each
    assignment's effective date (local midnight). None: no tariff at all for it."""
    rows = await assignments(session, account_id)
    return schedule_of(account_id, category, rows, await category_moves(session, account_id),
                       schedules)  # fmt: skip


def schedule_of(
    account_id: int,
    category: CustomerCategory,
    rows: Sequence[TariffAssignment],
    moves: Sequence[CategoryMove],
    schedules: Mapping[str, Schedule],
) -> Schedule | None:
    """:func:`account_schedule` from its assignments and category moves, read already (a
    billing round reads them for all its accounts at once)."""
    # a category change (改类) switches to the new category's default schedule at its day;
    # before the first one the account follows the category it had then
    default = schedules.get(moves[0].before if moves else category)
    if not rows and not moves:
        return default
    missing = sorted({r.schedule for r in rows} - set(schedules))
    if missing:
        raise TariffError(f"account {account_id}: tariff schedule {missing[0]!r} is not loaded")
    by_day: dict[date, Schedule] = {}
    for m in moves:
        if m.after not in schedules:
            raise TariffError(f"account {account_id}: no tariff for category {m.after.value}")
        by_day[m.day] = schedules[m.after]
    for r in rows:  # an assignment on the day of a category change is to the new category
        by_day[r.effective_from] = schedules[r.schedule]
    return AccountSchedule(default, sorted(by_day.items(), key=lambda kv: kv[0]))


@dataclass(frozen=True)
class InForce:
    schedule: str
    tariff: Tariff
    until: date | None  # the last day before the schedule's next tariff; None: open-ended


def in_force(schedules: Mapping[str, Schedule], day: date) -> list[InForce]:
    """The tariff of every schedule in force on a local day, by schedule key."""
    out = []
    for key in sorted(schedules):
        s = schedules[key]
        try:
            t = s.at(day)
        except TariffError:
            continue
        later = [x.effective_from for x in s.tariffs if x.effective_from > day]
        out.append(InForce(key, t, min(later) - timedelta(days=1) if later else None))
    return out


async def same_day(
    session: AsyncSession, account_id: int, schedule: str, effective_from: date
) -> TariffAssignment | None:
    """The account's assignment on that day: None when there is none; the stored one when it
    is to ``schedule`` (the same request again); Conflict when it is to another schedule."""
    existing = await session.scalar(
        select(TariffAssignment).where(
            TariffAssignment.account_id == account_id,
            TariffAssignment.effective_from == effective_from,
        )
    )
    if existing is None or existing.schedule == schedule:
        return existing
    raise Conflict(
        ErrorCode.TARIFF_ASSIGNMENT_EXISTS,
        f"account {account_id} already changes to {existing.schedule!r} on "
        f"{effective_from.isoformat()}",
        field="effective_from", schedule=existing.schedule, day=effective_from.isoformat(),
    )  # fmt: skip


async def assign(
    session: AsyncSession,
    account: Account,
    category: CustomerCategory,
    schedule: str,
    effective_from: date,
    actor: str,
) -> tuple[TariffAssignment, bool]:
    """Bill ``account`` on ``schedule`` from ``effective_from``. The same assignment again is
    answered with the stored one (created False); another schedule on a day that already
    has one is a conflict (assignments are never edited). The schedule must be loaded, in
    force that day, and of the customer's category."""
    loaded = await schedules(session)
    sched = loaded.get(schedule)
    if sched is None:
        raise NotFound(
            ErrorCode.TARIFF_SCHEDULE_NOT_FOUND, f"no tariff schedule {schedule!r}",
            field="schedule", schedule=schedule,
        )  # fmt: skip
    try:
        tariff = sched.at(effective_from)
    except TariffError:
        raise Unprocessable(
            ErrorCode.TARIFF_NOT_IN_FORCE,
            f"tariff schedule {schedule!r} is not in force on {effective_from.isoformat()}",
            field="effective_from", schedule=schedule, day=effective_from.isoformat(),
        ) from None  # fmt: skip
    if tariff.category is not category:
        raise Unprocessable(
            ErrorCode.TARIFF_CATEGORY_MISMATCH,
            f"tariff schedule {schedule!r} is for {tariff.category.value}, not {category.value}",
            field="schedule", schedule=schedule, category=category.value,
        )  # fmt: skip
    existing = await same_day(session, account.id, schedule, effective_from)
    if existing is not None:
        return existing, False
    row = TariffAssignment(
        account_id=account.id, schedule=schedule, effective_from=effective_from,
        assigned_by=actor,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row, True


async def tier_terms(session: AsyncSession, account_id: int) -> TierTerms | None:
    row = await session.get(AccountTariffTerms, account_id)
    if row is None:
        return None
    return TierTerms(row.household_extra_kwh_month * 1000, row.prorate_from)


async def set_terms(
    session: AsyncSession,
    account: Account,
    *,
    cycle_start: date | None,
    household_extra_kwh_month: int,
    prorate_from: date | None,
    capacity_kva: int | None = None,
    actor: str,
) -> bool:
    """Set the account's 年阶梯 cycle start and its tier terms; True when anything changed
    (then everything billed must be re-rated: the counters depend on them)."""
    for name, day in (("cycle_start", cycle_start), ("prorate_from", prorate_from)):
        if day is not None and not 1970 <= day.year <= 2999:
            raise Invalid(
                ErrorCode.BAD_DATE, f"{name} {day.isoformat()} is out of range",
                field=name, value=day.isoformat(),
            )  # fmt: skip
    row = await session.get(AccountTariffTerms, account.id)
    before = (
        account.cycle_start,
        row.household_extra_kwh_month if row else 0,
        row.prorate_from if row else None,
    )
    after = (cycle_start, household_extra_kwh_month, prorate_from)
    if row is not None and row.capacity_kva != capacity_kva:
        row.capacity_kva = capacity_kva  # bills only: nothing to re-rate
    elif row is None and capacity_kva is not None:
        row = AccountTariffTerms(account_id=account.id, capacity_kva=capacity_kva)
        row.household_extra_kwh_month, row.updated_by = 0, actor
        session.add(row)
    if before == after:
        await session.flush()
        return False
    account.cycle_start = cycle_start
    if row is None:
        row = AccountTariffTerms(account_id=account.id)
        session.add(row)
    row.household_extra_kwh_month = household_extra_kwh_month
    row.prorate_from = prorate_from
    row.capacity_kva = capacity_kva
    row.updated_by = actor
    await session.flush()
    return True


@dataclass(frozen=True)
class TierNow:
    """Where an account stands in its tiers (阶梯, R42) on a local day."""

    tariff: Tariff
    cycle: Cycle
    cycle_start: date
    cycle_end: date  # the cycle's last day
    tier: int  # 1-based
    tiers: int  # how many tiers the tariff has
    used_wh: int  # in this cycle so far
    next_threshold_wh: int | None  # where the next tier starts; None on the last tier
    left_wh: int | None  # what is left in the current tier; None on the last tier


def tier_now(
    schedule: Schedule,
    anchor: date,
    day: date,
    used: Mapping[date, int],
    terms: TierTerms | None = None,
) -> TierNow:
    """The account's tier on ``day`` from the Wh billed per cycle start (``used``)."""
    tariff = schedule.at(day)
    start = cycle_start(day, anchor, tariff.cycle)
    tiers_wh = thresholds(tariff, start, anchor, terms)
    wh = used.get(start, 0)
    tier = sum(1 for t in tiers_wh if wh >= t)
    threshold = tiers_wh[tier] if tier < len(tiers_wh) else None
    return TierNow(
        tariff=tariff, cycle=tariff.cycle, cycle_start=start,
        cycle_end=next_cycle_start(start, anchor, tariff.cycle) - timedelta(days=1),
        tier=tier + 1, tiers=len(tiers_wh) + 1, used_wh=wh,
        next_threshold_wh=threshold, left_wh=None if threshold is None else threshold - wh,
    )  # fmt: skip


async def monthly_bill(
    session: AsyncSession,
    account: Account,
    category: CustomerCategory,
    month: str,
    tz: ZoneInfo,
) -> Bill:
    """The bill of a local month: the live charges of the intervals that start in it, the
    basic charge and power-factor adjustment of the tariff in force on its first day."""
    first, nxt = month_days(month)
    lo, hi = (
        int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() * 1000) for d in (first, nxt)
    )
    texts = (
        await session.scalars(
            select(Charge.lines).where(
                Charge.account_id == account.id, Charge.reversed_at.is_(None),
                Charge.start_ms >= lo, Charge.start_ms < hi,
            )
        )
    ).all()  # fmt: skip
    lines = [ln for t in texts for ln in msgspec.json.decode(t, type=list[Line])]
    try:
        schedule = await account_schedule(session, account.id, category, await schedules(session))
        tariff = schedule.at(first) if schedule is not None else None
    except TariffError:
        tariff = None
    meters = await meters_of(session, account.id)
    terms = await session.get(AccountTariffTerms, account.id)
    demand = await session.scalar(
        select(func.max(Reading.value)).where(
            Reading.meter_pk.in_(meters), Reading.quantity == Quantity.MAX_DEMAND_IMPORT,
            Reading.ts >= lo, Reading.ts < hi, Reading.quality.in_(ACCEPTED_QUALITIES),
        )
    )  # fmt: skip
    reactive = 0
    for pk in meters:
        ends = []
        for edge in (lo, hi):
            ends.append(
                await session.scalar(
                    select(Reading.value)
                    .where(
                        Reading.meter_pk == pk, Reading.quantity == Quantity.REACTIVE_ENERGY_IMPORT,
                        Reading.ts <= edge, Reading.quality.in_(ACCEPTED_QUALITIES),
                    )
                    .order_by(Reading.ts.desc())
                    .limit(1)
                )
            )  # fmt: skip
        if ends[0] is not None and ends[1] is not None and ends[1] >= ends[0]:
            reactive += ends[1] - ends[0]
    kva = terms.capacity_kva if terms else None
    meterage = Meterage(
        capacity_kva=kva,
        capacity_days=tuple(
            (await capacity_history(session, account.id)).segments(first, nxt, kva or 0)
        ),
        max_demand_w=int(demand) if demand is not None else None,
        reactive_varh=reactive,
    )
    return compose(month, tariff, lines, meterage)


@dataclass(frozen=True)
class Comparison:
    schedule: str
    from_ms: int
    to_ms: int
    energy_wh: int
    billed_fen: int  # what the live charges of the stretch came to, rounded once
    alternative_fen: int  # the same intervals on ``schedule``, rounded once


async def compare(
    session: AsyncSession,
    account: Account,
    schedule: Schedule,
    schedule_key: str,
    from_ms: int,
    to_ms: int,
    tz: ZoneInfo,
) -> Comparison:
    """R45: what the account's billed intervals in [from, to) would have cost on another
    schedule (time of use against flat, for its own consumption), tiers counted afresh from
    the stretch's start with the account's own cycle start and terms."""
    rows = (
        await session.scalars(
            select(Charge).where(
                Charge.account_id == account.id, Charge.reversed_at.is_(None),
                Charge.start_ms >= from_ms, Charge.start_ms < to_ms,
            ).order_by(Charge.start_ms, Charge.meter_pk)
        )
    ).all()  # fmt: skip
    anchor = account.cycle_start or date(2000, 1, 1)
    terms = await tier_terms(session, account.id)
    counters: dict[date, int] = {}
    billed = alternative = Decimal(0)
    wh = 0
    for c in rows:
        billed += Decimal(c.exact_cny)
        wh += c.wh
        for ln in rate_interval(schedule, tz, anchor, c.start_ms, c.end_ms, c.wh, counters, terms):
            alternative += ln.amount
    return Comparison(schedule_key, from_ms, to_ms, wh, round_fen(billed), round_fen(alternative))
