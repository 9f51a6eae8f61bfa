"""Continuous billing (R27: no billing day): each metered interval is charged as it arrives.

An interval is what ``backend.metering.intervals`` says it is — the same derivation consumption
uses (accepted qualities, rollover, refused dips, one chain per meter) — over ``energy_import``
(hourly from load-control terminals, R17). Billing walks the chain from the baseline
consumption materialised (``metering.consumption.walk_from``), so the kWh billed are the kWh
consumption reports. The account's intervals are priced in time order against per-cycle tier
counters (backend.tariffs.rating), and each becomes one ``consumption_charge`` entry: its exact
amount is added to the account's running exact total and the entry posts
``round(total) - posted`` fen, so the remainder is carried and the ledger sums to the exact bill.

Late readings (an agent's backlog, a backfill from the meter's frozen values, an inspector's
reading) change past intervals. Then the account is re-rated from the reading before the
earliest change: every live charge from there on whose interval or lines differ is reversed
(an exact negating entry) and the new charge posted. No entry is ever edited.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from operator import itemgetter
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import Select, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend.accounts.models import Account, Customer
from backend.db import among
from backend.metering import consumption
from backend.metering.consumption import walk_from
from backend.metering.intervals import (
    ACCEPTED_QUALITIES,
    Point,
    Walk,
    last_accepted_before,
    new_tuple,
)
from backend.metering.models import Meter, Reading
from backend.prepaid import bulk, ledger
from backend.prepaid.models import BillingState, Charge, EntryKind
from backend.tariffs import service as tariff_service
from backend.tariffs.bills import service as issued_bills
from backend.tariffs.model import TariffError
from backend.tariffs.rating import Line, Schedule, TierTerms, rate_interval, round_fen
from backend.texts import Text
from backend.types import utcnow
from protocols.contract import Quantity

log = logging.getLogger("meterline.billing")

ENERGY = Quantity.ENERGY_IMPORT
ACTOR = "billing"
_lines_encoder = msgspec.json.Encoder()
_counters_encoder = msgspec.json.Encoder()
_told: set[str] = set()  # tariff problems already logged at ERROR by this process


@dataclass
class BillingResult:
    account_id: int
    posted: int = 0
    reversed: int = 0
    kept: int = 0
    skipped: list[str] = field(default_factory=list)
    changed_from_ms: int | None = None  # earliest start of a charge posted or reversed


class Interval(NamedTuple):
    """One interval of a meter's chain, as billed (a tuple: one is built per interval of a
    round, and a frozen dataclass's ``__init__`` costs five times as much)."""

    meter_pk: int
    start_ms: int
    end_ms: int
    wh: int


class Rated(NamedTuple):
    """An interval priced against the tier counters: what its charge must be (a tuple: one
    is built per interval priced)."""

    interval: Interval
    lines: list[Line]
    text: str  # the lines as stored in ``charges.lines``

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.interval.meter_pk, self.interval.start_ms, self.interval.end_ms)


@dataclass
class Context:
    account: Account
    category: str
    schedule: Schedule | None
    state: BillingState
    terms: TierTerms | None = None  # household allowance, first-cycle proration


def anchor_of(account: Account | bulk.Held) -> date:
    """The account's own cycle start; calendar years when none is set."""
    return account.cycle_start or date(2000, 1, 1)


async def _start_point(
    session: AsyncSession,
    meter_pk: int | None,
    min_ts: int | None,
    state: BillingState,
    tz: ZoneInfo,
) -> int | None:
    """Re-rate from the chain's baseline before the earliest change (an interval touched by
    a new reading starts there), or from where billing stopped; None: from the first reading."""
    if state.billed_through_ms is None:
        return None  # never billed: from the first reading
    start = state.billed_through_ms
    if meter_pk is not None and min_ts is not None:
        since = min(start, min_ts)
        base, walk = await walk_from(session, meter_pk, ENERGY, since, tz)
        before = last_accepted_before(walk, base, min_ts)
        start = min(start, before.ts if before is not None else min_ts)
    return start


async def _intervals(
    session: AsyncSession, meter_pks: list[int], from_ms: int | None, tz: ZoneInfo
) -> tuple[list[Interval], list[str]]:
    """The chain intervals (``backend.metering.intervals``, as consumption derives them) that
    start at or after ``from_ms``, of every meter of the account, in time order."""
    out: list[Interval] = []
    skipped: list[str] = []
    for pk in meter_pks:
        _base, walk = await walk_from(session, pk, ENERGY, from_ms, tz)
        found, refused = _from_walk(pk, walk, from_ms)
        out += found
        skipped += refused
    out.sort(key=lambda i: (i.start_ms, i.meter_pk))
    return out, skipped


def _counters_from(lines_json: Iterable[str]) -> dict[date, int]:
    counters: dict[date, int] = {}
    for text in lines_json:
        for ln in msgspec.json.decode(text, type=list[Line]):
            counters[ln.cycle] = counters.get(ln.cycle, 0) + ln.wh
    return counters


async def _context(
    session: AsyncSession, account_id: int, schedules: dict[Any, Schedule] | None
) -> Context:
    account = await ledger.lock_account(session, account_id)
    customer = await session.get(Customer, account.customer_id)
    assert customer is not None
    schedules = schedules if schedules is not None else await tariff_service.schedules(session)
    state = await ledger.billing_state(session, account_id)
    category = customer.category
    # its category's default tariffs, switched by the account's tariff assignments
    schedule = await tariff_service.account_schedule(session, account_id, category, schedules)
    terms = await tariff_service.tier_terms(session, account_id)
    return Context(account, category.value, schedule, state, terms)


async def used_by_cycle(session: AsyncSession, account_id: int) -> dict[date, int]:
    """Wh billed per tariff cycle start (the tier counters), from the live charges."""
    return _counters_from(
        (
            await session.scalars(
                select(Charge.lines).where(
                    Charge.account_id == account_id, Charge.reversed_at.is_(None)
                )
            )
        ).all()
    )


async def _live_charges(
    session: AsyncSession, account_id: int, from_ms: int | None
) -> list[Charge]:
    q = select(Charge).where(Charge.account_id == account_id, Charge.reversed_at.is_(None))
    if from_ms is not None:
        q = q.where(Charge.start_ms >= from_ms)
    return list((await session.scalars(q.order_by(Charge.start_ms))).all())


async def _counters_before(
    session: AsyncSession, account_id: int, live: list[Charge]
) -> dict[date, int]:
    """Tier counters before the re-rated stretch: everything billed, less what is re-rated."""
    all_live = (
        await session.scalars(
            select(Charge.lines).where(
                Charge.account_id == account_id, Charge.reversed_at.is_(None)
            )
        )
    ).all()
    counters = _counters_from(all_live)
    for c, n in _counters_from(ch.lines for ch in live).items():
        counters[c] -= n
    return counters


def _rate(
    schedule: Schedule | None,
    anchor: date,
    terms: TierTerms | None,
    intervals: list[Interval],
    counters: dict[date, int],
    tz: ZoneInfo,
) -> list[Rated]:
    assert schedule is not None or not intervals
    wanted: list[Rated] = []
    for iv in intervals:
        assert schedule is not None
        lines = rate_interval(schedule, tz, anchor, iv.start_ms, iv.end_ms, iv.wh, counters, terms)
        text = _one_text(lines[0]) if len(lines) == 1 else _lines_encoder.encode(lines).decode()
        wanted.append(new_tuple(Rated, (iv, lines, text)))
    return wanted


@functools.lru_cache(maxsize=8_192)
def _one_text(line: Line) -> str:
    """A one-line charge's ``lines`` as stored (``rating.one_line`` hands out the same lines)."""
    return _lines_encoder.encode([line]).decode()


def _unchanged(
    wanted: list[Rated], live: Sequence[Charge | bulk.LiveCharge]
) -> dict[tuple[int, int, int], int]:
    """The live charges (interval key → charge id) a wanted charge matches exactly: they
    stand; every other live charge of the stretch is reversed."""
    if not live:  # the usual case: new readings past everything billed
        return {}
    by_key = {(c.meter_pk, c.start_ms, c.end_ms): c for c in live}
    keep: dict[tuple[int, int, int], int] = {}
    for r in wanted:
        old = by_key.get(r.key)
        if old is not None and old.lines == r.text and old.wh == r.interval.wh:
            keep[r.key] = old.id
    return keep


def _withdrawn(live: list[Charge], keep: Iterable[int]) -> set[int]:
    """The entries to reverse: every entry with a live charge of the stretch that no wanted
    charge matches. A reversal negates one whole entry, so its other charges are re-posted."""
    keep = set(keep)
    return {c.entry_id for c in live if c.id not in keep}


async def _reverse_entries(
    session: AsyncSession, entry_ids: Iterable[int], result: BillingResult
) -> list[Charge]:
    """Reverse each entry exactly (one reversal per entry); return its charges that lie
    before the re-rated stretch, which still stand and are re-posted unchanged."""
    ids = sorted(entry_ids)
    if not ids:
        return []
    charges = list(
        (
            await session.scalars(
                select(Charge)
                .where(Charge.entry_id.in_(ids), Charge.reversed_at.is_(None))
                .order_by(Charge.start_ms, Charge.meter_pk)
            )
        ).all()
    )
    for entry_id in ids:
        await ledger.reverse(
            session,
            entry_id,
            actor=ACTOR,
            memo="re-rated: the readings changed",
            note=Text(ledger.MemoText.RERATED),
            rerating=True,
        )
        result.reversed += 1
    return charges


def _again(old: Charge) -> Rated:
    """A charge of a reversed entry that the re-rating does not change, posted again."""
    iv = Interval(old.meter_pk, old.start_ms, old.end_ms, old.wh)
    return Rated(iv, msgspec.json.decode(old.lines, type=list[Line]), old.lines)


async def _post(session: AsyncSession, ctx: Context, rated: list[Rated]) -> None:
    """One entry for the round's new charges of the account: their exact amounts join the
    running exact total, and the entry posts the change in the rounded total (the remainder
    is carried). Each charge keeps its own exact amount and points at the entry."""
    if not rated:
        return
    state, account_id = ctx.state, ctx.account.id
    priced = _priced(rated, state.exact_total_cny, state.posted_fen)
    entry = await ledger.post(
        session,
        account_id,
        EntryKind.CONSUMPTION_CHARGE,
        -priced.fen,
        actor=ACTOR,
        memo=priced.memo,
        note=priced.note,
        exact_cny=-priced.exact,
    )
    state.exact_total_cny = str(priced.total)
    state.posted_fen += priced.fen
    now = utcnow()
    await session.execute(
        insert(Charge),
        [
            dict(zip(bulk.CHARGE_FIELDS, row, strict=True), account_id=account_id,
                 created_at=now, entry_id=entry.id)
            for row in priced.charges()
        ],
    )  # fmt: skip


@dataclass
class Priced:
    """A round's new charges of one account, as its one entry posts them."""

    rated: list[Rated]
    amounts: list[Decimal]  # each charge's exact amount, CNY
    exact: Decimal  # their sum
    total: Decimal  # the account's exact total after them
    fen: int  # what the entry charges: the change in the rounded total

    @property
    def memo(self) -> str:
        return f"{len(self.rated)} intervals: {self.wh} Wh"

    @functools.cached_property
    def wh(self) -> int:
        return sum(r.interval.wh for r in self.rated)

    @property
    def note(self) -> Text:
        return Text(
            ledger.MemoText.CONSUMPTION_ROUND, {"intervals": len(self.rated), "energy_wh": self.wh}
        )

    def charges(self) -> list[tuple[Any, ...]]:
        """Each charge's ``bulk.CHARGE_FIELDS``: its interval (meter, start, end, Wh: the
        tuple's own order), exact amount and lines."""
        return [
            (*r.interval, str(amount), r.text)
            for r, amount in zip(self.rated, self.amounts, strict=True)
        ]


def _priced(rated: list[Rated], exact_total_cny: str, posted_fen: int) -> Priced:
    """Their exact amounts join the running exact total; the entry posts the change in the
    rounded total, so the remainder is carried."""
    amounts = [
        r.lines[0].amount if len(r.lines) == 1 else sum((ln.amount for ln in r.lines), Decimal(0))
        for r in rated
    ]
    exact = sum(amounts, Decimal(0))
    total = Decimal(exact_total_cny) + exact
    return Priced(rated, amounts, exact, total, round_fen(total) - posted_fen)


async def _carry_rounding(session: AsyncSession, ctx: Context) -> None:
    """A re-rating reverses each withdrawn charge exactly (fen for fen), but the fen a charge
    posted carried an earlier remainder: without a charge after it, the posted total would
    drift from the rounded exact total. One rounding entry (0 Wh, exact 0) brings it back."""
    state = ctx.state
    fen = round_fen(Decimal(state.exact_total_cny)) - state.posted_fen
    if fen == 0:
        return
    await ledger.post(
        session,
        ctx.account.id,
        EntryKind.CONSUMPTION_CHARGE,
        -fen,
        actor=ACTOR,
        memo="rounding carried after re-rating",
        note=Text(ledger.MemoText.ROUNDING),
        exact_cny=Decimal(0),
    )
    state.posted_fen += fen


async def bill_account(
    session: AsyncSession,
    account_id: int,
    tz: ZoneInfo,
    *,
    schedules: dict[Any, Schedule] | None = None,
    meter_pk: int | None = None,
    min_ts: int | None = None,
) -> BillingResult:
    """Bring the account's charges in line with its readings. Runs inside the caller's
    transaction; raises TariffError (nothing posted) when no tariff covers an interval."""
    result = BillingResult(account_id)
    ctx = await _context(session, account_id, schedules)
    from_ms = await _start_point(session, meter_pk, min_ts, ctx.state, tz)
    meters = list(
        (await session.scalars(select(Meter.id).where(Meter.account_id == account_id))).all()
    )
    intervals, result.skipped = await _intervals(session, meters, from_ms, tz)
    live = await _live_charges(session, account_id, from_ms)
    if not intervals and not live:
        return result
    if ctx.schedule is None and intervals:
        raise TariffError(f"no tariff for category {ctx.category}")
    by_id = {c.id: c for c in live}
    counters = await _counters_before(session, account_id, live)
    wanted = _rate(ctx.schedule, anchor_of(ctx.account), ctx.terms, intervals, counters, tz)
    keep = _unchanged(wanted, live)
    withdrawn = _withdrawn(live, keep.values())
    kept = {key for key, charge_id in keep.items() if by_id[charge_id].entry_id not in withdrawn}
    result.kept = len(kept)
    stretch = {c.id for c in live}
    before = [c for c in await _reverse_entries(session, withdrawn, result) if c.id not in stretch]
    new = [_again(c) for c in before] + [r for r in wanted if r.key not in kept]
    starts = [r.interval.start_ms for r in new] + [
        c.start_ms for c in live if c.entry_id in withdrawn
    ]
    result.changed_from_ms = min(starts, default=None)
    await _post(session, ctx, new)
    result.posted += len(new)
    if result.reversed:
        await _carry_rounding(session, ctx)
    if intervals:
        last = max(iv.end_ms for iv in intervals)
        ctx.state.billed_through_ms = max(ctx.state.billed_through_ms or last, last)
    if result.posted or result.reversed:
        ctx.state.tier_counters = None  # the next round sums them from the live charges again
    await session.flush()
    for msg in result.skipped:
        log.warning("account %s: %s", account_id, msg)
    return result


async def on_readings_committed(
    sessions: async_sessionmaker[AsyncSession],
    affected: Iterable[Sequence[Any]],
    tz: ZoneInfo,
) -> list[BillingResult]:
    """Ingestion's post-commit hook: (meter_pk, quantity, min_ts, max_ts, …) per affected
    meter (``backend.metering.ingest.AffectedInterval``). Accounts are billed many to a
    transaction (:func:`bill_meters`); a failure is logged and retried by the next reading
    or by :func:`catch_up` (billing restarts where it stopped)."""
    earliest: dict[int, int | None] = {}
    latest: dict[int, int] = {}
    for meter_pk, quantity, min_ts, max_ts, *_ in affected:
        if quantity == ENERGY:
            earliest[meter_pk] = min(min_ts, earliest.get(meter_pk) or min_ts)
            latest[meter_pk] = max(max_ts, latest.get(meter_pk, max_ts))
    return await bill_meters(sessions, earliest, tz, rerate=False, latest=latest)


def _bounded(latest: dict[int, int] | None) -> dict[int, int] | None:
    """Of each meter's newest reading announced, the bounds a round may keep
    (``consumption.bounded``): only for a chain a later round will follow."""
    if latest is None:
        return None
    kept = consumption.bounded({(pk, ENERGY): ts for pk, ts in latest.items()})
    return {pk: ts for (pk, _), ts in kept.items()}


ACCOUNTS_PER_TRANSACTION = 200  # bounds how long one round holds its accounts' locks
# Rounds in flight at once on PostgreSQL: while one round's writes run in the database server,
# the next round is read and priced here. SQLite has one writer: a second round would only
# wait for the first's lock, so there they run one after another.
CONCURRENT_ROUNDS = 2


async def bill_meters(
    sessions: async_sessionmaker[AsyncSession],
    earliest: dict[int, int | None],
    tz: ZoneInfo,
    *,
    rerate: bool = True,
    latest: dict[int, int] | None = None,
) -> list[BillingResult]:
    """Bill the accounts of these meters, each from its meter's earliest new reading (None:
    from where the account's billing stopped). ``rerate`` False (new readings, nothing else
    changed: the derived-data path) lets a round keep the charges whose intervals the
    readings left as they were without pricing them again; True (a tariff, term or category
    change: the callers that re-rate) prices every charge from there again. ``latest``: a
    meter's newest reading announced (the derived-data path); when a later round will follow
    the chain, a round bills it up to there and no further, as consumption has read it, and
    that round appends the rest: billed now, it would find its earliest new reading already
    billed and compare the account's stretch of charges. Otherwise up to the last reading
    committed (``consumption.bounded``).

    Up to ``ACCOUNTS_PER_TRANSACTION`` accounts (an account's meters never split) share one
    transaction, taken in account order (locks in one order: no deadlock between rounds),
    and are billed set-based (:func:`_round`: a few statements for all of them); on
    PostgreSQL ``CONCURRENT_ROUNDS`` such transactions run at once, on disjoint accounts. An
    account the round leaves out — to be re-rated, or failing — and every account of a round
    that fails is billed alone (:func:`bill_account`) in its own savepoint, so one without a
    tariff is left out alone."""
    if not earliest:
        return []
    async with sessions() as session:
        rows = await session.execute(
            select(Meter.id, Meter.account_id).where(
                among(session.get_bind().dialect.name, Meter.id, earliest),
                Meter.account_id.is_not(None),
            )
        )
        owners = {pk: account_id for pk, account_id in rows.all() if account_id is not None}
        parallel = (
            CONCURRENT_ROUNDS if (await session.connection()).dialect.name == "postgresql" else 1
        )
    work = sorted((account_id, pk) for pk, account_id in owners.items())
    slots = asyncio.Semaphore(parallel)

    async def one(pairs: list[tuple[int, int]]) -> list[BillingResult]:
        async with slots:
            return await _bill_round(sessions, pairs, earliest, tz, rerate=rerate, latest=latest)

    try:
        async with asyncio.TaskGroup() as group:  # one fails: the others are cancelled
            rounds = [group.create_task(one(pairs)) for pairs in _by_accounts(work)]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None  # as one round after another raised it
    results = [r for done in rounds for r in done.result()]
    # a month whose bill is already issued and whose charges changed gets a revision
    changed: dict[int, int] = {}
    for r in results:
        if r.changed_from_ms is not None:
            changed[r.account_id] = min(
                r.changed_from_ms, changed.get(r.account_id, r.changed_from_ms)
            )
    await issued_bills.revise_after_rerating(sessions, changed, tz, now=utcnow())
    return results


def _by_accounts(work: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """(account, meter) pairs in account order, cut into rounds of up to
    ``ACCOUNTS_PER_TRANSACTION`` accounts: an account's meters stay in one round."""
    accounts = [list(pairs) for _, pairs in itertools.groupby(work, key=itemgetter(0))]
    return [
        [pair for pairs in accounts[at : at + ACCOUNTS_PER_TRANSACTION] for pair in pairs]
        for at in range(0, len(accounts), ACCOUNTS_PER_TRANSACTION)
    ]


async def _bill_round(
    sessions: async_sessionmaker[AsyncSession],
    pairs: list[tuple[int, int]],
    earliest: dict[int, int | None],
    tz: ZoneInfo,
    *,
    rerate: bool,
    latest: dict[int, int] | None = None,
) -> list[BillingResult]:
    """One transaction: these pairs set-based, those it leaves out alone."""
    async with sessions() as session:
        schedules = await tariff_service.schedules(session)
        try:
            async with session.begin_nested():
                done, alone = await _round(
                    session, pairs, earliest, tz, schedules, rerate=rerate, latest=latest
                )
        except Exception:
            log.warning("billing round of %d accounts failed; billing them one by one",
                        len({a for a, _ in pairs}), exc_info=True)  # fmt: skip
            done, alone = [], pairs
        for account_id, meter_pk in alone:
            min_ts = earliest[meter_pk]
            try:
                async with session.begin_nested():
                    done.append(
                        await bill_account(
                            session, account_id, tz, schedules=schedules,
                            meter_pk=None if min_ts is None else meter_pk, min_ts=min_ts,
                        )
                    )  # fmt: skip
            except TariffError as exc:
                # once per problem, not per reading: the fix is a tariff file, not a retry
                level = logging.DEBUG if str(exc) in _told else logging.ERROR
                _told.add(str(exc))
                log.log(level, "account %s not billed: %s", account_id, exc)
        await session.commit()
    return sorted(done, key=lambda r: r.account_id)


async def _round(
    session: AsyncSession,
    pairs: list[tuple[int, int]],
    earliest: dict[int, int | None],
    tz: ZoneInfo,
    schedules: dict[Any, Schedule],
    *,
    rerate: bool,
    latest: dict[int, int] | None = None,
) -> tuple[list[BillingResult], list[tuple[int, int]]]:
    """Bill these (account, meter) pairs set-based: read every account's lock, state, terms,
    meters, chains, re-rated stretch and tier counters in a few queries
    (``backend.prepaid.bulk``), price each account in Python exactly as :func:`bill_account`
    would, and write every entry, charge, balance and state in bulk. Returns the results and
    the pairs left to :func:`bill_account`: an account with a charge to withdraw (re-rating:
    reversals), whose chain does not reach back to its stretch, or that cannot be priced."""
    round_meters: dict[int, list[int]] = defaultdict(list)
    for account_id, pk in pairs:
        round_meters[account_id].append(pk)
    held = await bulk.lock(session, sorted(round_meters))
    await bulk.read(session, held)
    since: dict[int, int | None] = {}
    for a in held.values():
        through = a.state.billed_through_ms if a.state else None
        news = [ts for pk in round_meters[a.id] if (ts := earliest[pk]) is not None]
        for pk in a.meters:
            since[pk] = None if through is None else min([through, *news])
    walks = await bulk.walks(
        session,
        since,
        ENERGY,
        tz,
        await bulk.restart_points(session, _appending(held, round_meters, earliest), ENERGY),
        until=_bounded(latest),
    )
    alone: set[int] = set()
    wanted: dict[int, tuple[int | None, list[Interval], list[str]]] = {}
    for a in held.values():
        stretch = _stretch(a, [(pk, earliest[pk]) for pk in round_meters[a.id]], walks)
        if stretch is None:
            alone.add(a.id)
        else:
            wanted[a.id] = stretch
    relive = {
        a: from_ms
        for a, (from_ms, _, _) in wanted.items()
        if from_ms is not None and (last := held[a].last_live_start_ms) is not None
        and last >= from_ms
    }  # fmt: skip
    live = await bulk.stretches(session, relive)
    lines = await bulk.live_lines(
        session,
        sorted(a for a, w in wanted.items() if (w[1] or a in live) and not _kept(held[a])),
    )
    now = utcnow()
    postings: list[bulk.Posting] = []
    results: list[BillingResult] = []
    for account_id, (_from_ms, intervals, skipped) in sorted(wanted.items()):
        a = held[account_id]
        try:
            charges, standing = live.get(a.id, []), 0
            if not rerate:
                intervals, charges, standing = _standing(intervals, charges)
            result, posting = _price(a, intervals, charges, lines, schedules, tz, now)
            result.kept += standing
        except _Alone:
            alone.add(a.id)
            continue
        result.skipped = skipped
        results.append(result)
        if posting is not None:
            postings.append(posting)
    await bulk.write(session, postings)
    for r in results:
        for msg in r.skipped:
            log.warning("account %s: %s", r.account_id, msg)
    return results, [(account_id, pk) for account_id, pk in pairs if account_id in alone]


def _appending(
    held: dict[int, bulk.Held], round_meters: dict[int, list[int]], earliest: dict[int, int | None]
) -> dict[int, int]:
    """Meters whose walk can start at a restart point (meter → its earliest new reading): the
    only meter of an account billed before, named by new readings. The stretch starts at the
    last accepted reading before the earliest new one (or where billing stopped, if earlier):
    the end of the meter's last live charge before that reading lies at or before it, so the
    walk from there finds the same stretch and intervals as the walk from the day's baseline
    without reading the day again (``bulk.restart_points``). A re-rating (no new reading
    named) or an account of several meters walks from the day's baseline."""
    out: dict[int, int] = {}
    for a in held.values():
        through = a.state.billed_through_ms if a.state else None
        if through is None or len(a.meters) != 1 or round_meters[a.id] != a.meters:
            continue
        pk = a.meters[0]
        new = earliest[pk]
        if new is not None:
            out[pk] = new
    return out


class _Alone(Exception):
    """The account is billed alone: it cannot be priced, or a charge must be withdrawn."""


def _price(
    a: bulk.Held,
    intervals: list[Interval],
    charges: list[bulk.LiveCharge],
    lines: dict[int, list[str]],
    schedules: dict[Any, Schedule],
    tz: ZoneInfo,
    now: Any,
) -> tuple[BillingResult, bulk.Posting | None]:
    """One account of the round, priced as :func:`bill_account` prices it, given the live
    charges of its stretch: they must all stand (else re-rating withdraws some: alone)."""
    result = BillingResult(a.id)
    if not intervals and not charges:  # nothing to bill: the state stays as it was
        return result, _posting(a, [], [], None, now)
    try:
        counters = _counters(a, lines.get(a.id, ()), charges)
        rated = _rate(_schedule_of(a, schedules, intervals), anchor_of(a), a.terms, intervals,
                      counters, tz)  # fmt: skip
    except TariffError as exc:
        raise _Alone from exc  # billed alone, where the error is told once
    keep = _unchanged(rated, charges)
    if len(set(keep.values())) != len(charges):
        raise _Alone  # a charge to withdraw: re-rated alone (reversals)
    new = [r for r in rated if r.key not in keep] if keep else rated
    result.posted, result.kept = len(new), len(keep)
    result.changed_from_ms = min((r.interval.start_ms for r in new), default=None)
    return result, _posting(a, new, intervals, counters, now)


def _standing(
    intervals: list[Interval], charges: list[bulk.LiveCharge]
) -> tuple[list[Interval], list[bulk.LiveCharge], int]:
    """New readings only: when every live charge of the stretch is still an interval of the
    chain (same meter, ends and Wh) and every other interval comes after them all, those
    charges stand as priced — their tiers and prices cannot have moved, nothing before them
    did — and only the intervals after them are priced, from the kept tier counters. (A
    backlog's rounds overlap: a round bills readings committed after its announcement, and
    the next announcement names them again.) Otherwise everything is priced again."""
    if not charges:
        return intervals, charges, 0
    billed = {(c.meter_pk, c.start_ms, c.end_ms): c.wh for c in charges}
    whs = {(iv.meter_pk, iv.start_ms, iv.end_ms): iv.wh for iv in intervals}
    if any(whs.get(key) != wh for key, wh in billed.items()):
        return intervals, charges, 0
    last = max((c.start_ms, c.meter_pk) for c in charges)
    new = [iv for iv in intervals if (iv.meter_pk, iv.start_ms, iv.end_ms) not in billed]
    if any((iv.start_ms, iv.meter_pk) <= last for iv in new):
        return intervals, charges, 0
    return new, [], len(charges)


def _kept(a: bulk.Held) -> bool:
    """Its tier counters are kept in its billing state (not summed from its charges)."""
    return a.state is not None and a.state.tier_counters is not None


def _counters(
    a: bulk.Held, lines: Iterable[str], stretch: list[bulk.LiveCharge]
) -> dict[date, int]:
    """The tier counters before the stretch: everything billed, less what is re-rated."""
    if a.state is not None and a.state.tier_counters is not None:
        counters = msgspec.json.decode(a.state.tier_counters, type=dict[date, int])
    else:
        counters = _counters_from(lines)
    for c, n in _counters_from(ch.lines for ch in stretch).items():
        counters[c] -= n
    return counters


def _stretch(
    a: bulk.Held,
    news: list[tuple[int, int | None]],
    walks: dict[int, tuple[Point | None, Walk]],
) -> tuple[int | None, list[Interval], list[str]] | None:
    """Where the account's billing starts (as :func:`_start_point`), its intervals from there
    and its refused readings; None when it must be billed alone: a chain's baseline lies past
    the start, or it has charges but was never billed."""
    from_ms = a.state.billed_through_ms if a.state else None
    if from_ms is not None:  # from the baseline before each new reading
        for pk, min_ts in news:
            if min_ts is not None:
                base, walk = walks[pk]
                before = last_accepted_before(walk, base, min_ts)
                from_ms = min(from_ms, before.ts if before is not None else min_ts)
    elif a.last_live_start_ms is not None:
        return None
    intervals: list[Interval] = []
    skipped: list[str] = []
    for pk in a.meters:
        base, walk = walks[pk]
        if from_ms is not None and base is not None and base.ts > from_ms:
            return None
        found, refused = _from_walk(pk, walk, from_ms)
        intervals += found
        skipped += refused
    if len(a.meters) > 1:  # one meter's walk is in time order already
        intervals.sort(key=lambda i: (i.start_ms, i.meter_pk))
    return from_ms, intervals, skipped


def _schedule_of(
    a: bulk.Held, schedules: dict[Any, Schedule], intervals: list[Interval]
) -> Schedule | None:
    schedule = tariff_service.schedule_of(a.id, a.category, a.assignments, a.moves, schedules)
    if schedule is None and intervals:
        raise TariffError(f"no tariff for category {a.category.value}")
    return schedule


def _posting(
    a: bulk.Held,
    new: list[Rated],
    intervals: list[Interval],
    counters: dict[date, int] | None,
    now: Any,
) -> bulk.Posting | None:
    """What the round writes for one account (as :func:`_post` and ``ledger.post`` would):
    one entry for its new charges, the charges, the billing state after them (billed through
    the last interval, the tier counters kept); None: nothing to write."""
    old = a.state or bulk.State()
    if not intervals and a.state is not None:
        return None
    through = old.billed_through_ms
    if intervals:
        last = max(iv.end_ms for iv in intervals)
        through = max(through or last, last)
    priced = _priced(new, old.exact_total_cny, old.posted_fen)
    state = {
        "exact_total_cny": str(priced.total), "posted_fen": old.posted_fen + priced.fen,
        "billed_through_ms": through, "updated_at": now,
        "tier_counters": None if counters is None else _counters_encoder.encode(
            {c: n for c, n in sorted(counters.items()) if n}).decode(),
    }  # fmt: skip
    if not new:  # billed through further, or a state from now on (ledger.billing_state)
        return bulk.Posting(a.id, 0, a.balance_fen, {}, [], state, new_state=a.state is None)
    note = priced.note
    entry = {
        "kind": EntryKind.CONSUMPTION_CHARGE, "exact_cny": str(-priced.exact), "actor": ACTOR,
        "memo": priced.memo, "memo_code": note.code, "memo_params": dict(note.params),
        "created_at": now,
    }  # fmt: skip
    return bulk.Posting(
        a.id, -priced.fen, a.balance_fen - priced.fen, entry, priced.charges(), state,
        new_state=a.state is None,
    )  # fmt: skip


def _from_walk(pk: int, walk: Walk, from_ms: int | None) -> tuple[list[Interval], list[str]]:
    """The intervals of one meter's chain that start at or after ``from_ms``, and the
    readings it refused there (as :func:`_intervals` reads them)."""
    found = [
        new_tuple(Interval, (pk, iv.start.ts, iv.end.ts, iv.wh))
        for iv in walk.intervals
        if iv.wh > 0 and (from_ms is None or iv.start.ts >= from_ms)
    ]
    refused = [
        f"meter {pk}: register fell from {a.baseline.value} to {a.reading.value} Wh at "
        f"{a.reading.ts}"
        for a in walk.anomalies
        if from_ms is None or a.reading.ts >= from_ms
    ]
    return found, refused


def missed_query(since_ms: int) -> Select[int, int, int]:
    """(meter_pk, min_ts, max_ts) of :func:`missed`. For each meter of an account, the range of
    its primary key (meter, quantity, time) past both ``since_ms`` and the account's
    billed_through: an index probe a meter, which reads only its unbilled readings — not every
    reading of the window, grouped (a million meters' two days are 190 million rows)."""
    r = Reading
    energy = (r.quantity == ENERGY, r.quality.in_(ACCEPTED_QUALITIES))
    past = func.coalesce(BillingState.billed_through_ms, -1)
    earliest = select(func.min(r.ts)).where(
        r.meter_pk == Meter.id, r.ts >= since_ms, r.ts > past, *energy
    )
    first = (
        select(Meter.id.label("meter_pk"), earliest.scalar_subquery().label("lo"))
        .outerjoin(BillingState, BillingState.account_id == Meter.account_id)
        .where(Meter.account_id.is_not(None))
        .subquery()
    )
    latest = select(func.max(r.ts)).where(
        r.meter_pk == first.c.meter_pk, r.ts >= first.c.lo, *energy
    )
    return select(first.c.meter_pk, first.c.lo, latest.scalar_subquery()).where(
        first.c.lo.is_not(None)
    )


async def missed(
    sessions: async_sessionmaker[AsyncSession], since_ms: int
) -> list[tuple[int, str, int, int]]:
    """(meter_pk, quantity, min_ts, max_ts) of the accepted energy readings since ``since_ms``
    that their account's billing has not reached: what an announcement missed (a crash between
    commit and billing, a failed run, ingestion in another process). Each span starts at the
    meter's earliest such reading, so an interval that began before the account's
    billed_through (another meter's) is not skipped."""
    async with sessions() as s:
        rows = (await s.execute(missed_query(since_ms))).all()
    return [(pk, ENERGY, lo, hi) for pk, lo, hi in rows]


async def catch_up(
    sessions: async_sessionmaker[AsyncSession], tz: ZoneInfo, since_ms: int
) -> list[BillingResult]:
    """Bill what :func:`missed` finds (the API process sends it through the derived-data
    path instead, so consumption runs first)."""
    return await on_readings_committed(sessions, await missed(sessions, since_ms), tz)
