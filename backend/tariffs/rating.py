"""Pure rating: an interval's energy → priced lines, tiers applied as consumption happens.

An interval (two consecutive register reads of one meter) is cut at every local midnight, every
TOU boundary and every tariff change inside it, and its Wh are shared between the pieces in
proportion to their duration (exact integers, largest remainder: the pieces sum to the
interval). Hourly reads (R17) with boundaries on the hour make the TOU split exact.

The pieces are then walked in time order against a running counter per tariff cycle (阶梯: the
account's own cycle start, restarting every year or month), so the kWh that crosses a threshold
is priced at the next tier from that moment. Each (tier, period) has its own price. Amounts are
exact ``Decimal`` CNY; rounding to fen happens once, when the ledger posts (with carry).
"""

from __future__ import annotations

import bisect
import calendar
import functools
import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Context, Decimal
from zoneinfo import ZoneInfo

import msgspec

from backend.tariffs.model import Cycle, Period, Tariff, TariffError

MS = 1000
DAY_MS = 86_400_000
_AMOUNTS = Context(prec=50, rounding=ROUND_HALF_EVEN)  # wide enough that kWh × price is exact


class Line(msgspec.Struct, frozen=True):
    """One priced slice of an interval: ``wh`` at ``price`` in (tier, period) of ``cycle``."""

    cycle: date  # the tariff cycle's first local day
    tariff: str
    tier: int  # 1-based, as customers read it: 第一档, 第二档, 第三档
    period: Period
    wh: int
    price: Decimal  # CNY/kWh
    amount: Decimal  # CNY, exact


class Schedule:
    """The tariffs of one category, in force one after another from their effective dates."""

    def __init__(self, tariffs: Sequence[Tariff]) -> None:
        self.tariffs = sorted(tariffs, key=lambda t: t.effective_from)
        if not self.tariffs:
            raise TariffError("no tariff for this category")
        self._starts = [t.effective_from for t in self.tariffs]
        if len(set(self._starts)) != len(self._starts):
            raise TariffError("two tariffs of one category take effect on the same day")

    def at(self, day: date) -> Tariff:
        i = bisect.bisect_right(self._starts, day) - 1
        if i < 0:
            raise TariffError(
                f"no {self.tariffs[0].category.value} tariff in force on {day.isoformat()} "
                f"(the first starts {self._starts[0].isoformat()})"
            )
        return self.tariffs[i]


class AccountSchedule(Schedule):
    """An account's tariffs: its category's default schedule until its first assignment, then
    each assigned schedule from its effective date (local midnight) until the next one."""

    def __init__(self, default: Schedule | None, assigned: Sequence[tuple[date, Schedule]]) -> None:
        self._default = default
        self._assigned = sorted(assigned, key=lambda a: a[0])
        self._from = [d for d, _ in self._assigned]
        if len(set(self._from)) != len(self._from):
            raise TariffError("two assignments of one account take effect on the same day")
        parts = ([default] if default else []) + [s for _, s in self._assigned]
        self.tariffs = [t for s in parts for t in s.tariffs]
        self._starts = []

    def schedule_at(self, day: date) -> Schedule | None:
        i = bisect.bisect_right(self._from, day) - 1
        return self._default if i < 0 else self._assigned[i][1]

    def at(self, day: date) -> Tariff:
        schedule = self.schedule_at(day)
        if schedule is None:
            raise TariffError(f"no tariff for this account on {day.isoformat()}")
        return schedule.at(day)


@functools.lru_cache(maxsize=4096)
def cycle_start(day: date, anchor: date, cycle: Cycle) -> date:
    """The first day of the tariff cycle containing ``day`` for an account anchored at
    ``anchor`` (its cycle_start). Days past a short month's end fall on its last day."""
    if cycle is Cycle.ANNUAL:
        for year in (day.year, day.year - 1):
            last = calendar.monthrange(year, anchor.month)[1]
            start = date(year, anchor.month, min(anchor.day, last))
            if start <= day:
                return start
        raise AssertionError("unreachable")
    year, month = day.year, day.month
    for _ in range(2):
        last = calendar.monthrange(year, month)[1]
        start = date(year, month, min(anchor.day, last))
        if start <= day:
            return start
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    raise AssertionError("unreachable")


class TierTerms(msgspec.Struct, frozen=True):
    """An account's own tier terms: the household-size allowance (一户多人口: every threshold
    raised by ``extra_wh_month`` per month of the cycle, so the first tier's band grows by it)
    and the first cycle's proration (an account opened mid-cycle: the thresholds of the cycle
    containing ``prorate_from`` scaled by the days left in it, rounded down to the Wh)."""

    extra_wh_month: int = 0
    prorate_from: date | None = None


def next_cycle_start(start: date, anchor: date, cycle: Cycle) -> date:
    """The first day of the cycle after the one beginning ``start``."""
    probe = start + timedelta(days=366 if cycle is Cycle.ANNUAL else 31)
    nxt = cycle_start(probe, anchor, cycle)
    while (before := cycle_start(nxt - timedelta(days=1), anchor, cycle)) > start:
        nxt = before
    return nxt


def thresholds(
    tariff: Tariff, start: date, anchor: date, terms: TierTerms | None = None
) -> tuple[int, ...]:
    """The tier thresholds (Wh) of the account's cycle beginning ``start``."""
    base = tariff.thresholds(start)
    if terms is None or not base:
        return base
    months = 12 if tariff.cycle is Cycle.ANNUAL else 1
    out = tuple(t + terms.extra_wh_month * months for t in base)
    p = terms.prorate_from
    if p is not None:
        end = next_cycle_start(start, anchor, tariff.cycle)
        if start < p < end:
            left, days = (end - p).days, (end - start).days
            out = tuple(t * left // days for t in out)
    return out


def split_energy(
    start_ms: int, end_ms: int, wh: int, cuts: Sequence[int]
) -> list[tuple[int, int, int]]:
    """Share ``wh`` over [start, end) cut at ``cuts``, in proportion to time (largest
    remainder, ties to the earlier piece). Returns (start_ms, end_ms, wh) pieces."""
    points = [start_ms, *sorted(c for c in set(cuts) if start_ms < c < end_ms), end_ms]
    spans = [(a, b) for a, b in itertools.pairwise(points)]
    total = end_ms - start_ms
    if total <= 0:
        raise ValueError(f"interval [{start_ms}, {end_ms}) is empty")
    shares = [wh * (b - a) // total for a, b in spans]
    rema = [(-(wh * (b - a) % total), i) for i, (a, b) in enumerate(spans)]
    for _, i in sorted(rema)[: wh - sum(shares)]:
        shares[i] += 1
    return [(a, b, s) for (a, b), s in zip(spans, shares, strict=True)]


def _local(ms: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / MS, UTC).astimezone(tz)


def _to_ms(local: datetime) -> int:
    return int(local.astimezone(UTC).timestamp() * MS)


def cut_points(schedule: Schedule, tz: ZoneInfo, start_ms: int, end_ms: int) -> list[int]:
    """Local midnights (cycle and tariff changes happen there) and TOU boundaries inside."""
    cuts: list[int] = []
    day = _local(start_ms, tz).date()
    last = _local(end_ms, tz).date()
    while day <= last:
        midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
        cuts.append(_to_ms(midnight))
        try:
            tariff = schedule.at(day)
        except TariffError:
            tariff = None
        for minute in tariff.boundaries() if tariff else ():
            cuts.append(_to_ms(midnight + timedelta(minutes=minute)))
        day += timedelta(days=1)
    return [c for c in cuts if start_ms < c < end_ms]


def kwh_amount(wh: int, price: Decimal) -> Decimal:
    return _AMOUNTS.multiply(Decimal(wh).scaleb(-3, _AMOUNTS), price)


@functools.lru_cache(maxsize=1024)
def _day_span(tz: ZoneInfo, day: date) -> tuple[int, int]:
    """The UTC ms of a local day's midnight and of the next one."""
    nxt = day + timedelta(days=1)
    return (
        _to_ms(datetime(day.year, day.month, day.day, tzinfo=tz)),
        _to_ms(datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)),
    )


class _DayPeriods:
    """One tariff's TOU boundaries on one 24-hour local day, as UTC ms, and the period of each
    stretch between them: what ``cut_points`` and ``period_at`` give, worked out once a day."""

    __slots__ = ("cuts", "periods")

    def __init__(self, tariff: Tariff, tz: ZoneInfo, day: date, midnight_ms: int) -> None:
        base = datetime(day.year, day.month, day.day, tzinfo=tz)
        self.cuts = [_to_ms(base + timedelta(minutes=m)) for m in tariff.boundaries()]
        self.periods = [
            Period.FLAT if tariff.flat_only else tariff.period_at(_local(ms, tz).time())
            for ms in (midnight_ms, *self.cuts)
        ]


# (id(tariff), tz, day) → (tariff, its day): the tariff is kept so that its id stays its own
_day_periods: dict[tuple[int, ZoneInfo, date], tuple[Tariff, _DayPeriods]] = {}
_DAY_PERIODS_MAX = 4096


def _periods_of(tariff: Tariff, tz: ZoneInfo, day: date, midnight_ms: int) -> _DayPeriods:
    key = (id(tariff), tz, day)
    hit = _day_periods.get(key)
    if hit is not None and hit[0] is tariff:
        return hit[1]
    if len(_day_periods) >= _DAY_PERIODS_MAX:
        _day_periods.clear()
    found = _DayPeriods(tariff, tz, day, midnight_ms)
    _day_periods[key] = (tariff, found)
    return found


# per zone, the last ordinary (24-hour) local day an interval started in: [midnight, next), day
_last_day: dict[ZoneInfo, tuple[int, int, date]] = {}


def _pieces_in_day(
    schedule: Schedule, tz: ZoneInfo, start_ms: int, end_ms: int, wh: int
) -> tuple[date, Tariff, list[tuple[int, Period]]] | None:
    """An interval inside one ordinary (24-hour) local day, cut and labelled from that day's
    cached boundaries: (day, tariff, [(wh, period)]); None for any other interval."""
    hit = _last_day.get(tz)
    if hit is not None and hit[0] <= start_ms < hit[1]:
        midnight, next_midnight, day = hit
    else:
        day = _local(start_ms, tz).date()
        midnight, next_midnight = _day_span(tz, day)
        if next_midnight - midnight == DAY_MS:
            _last_day[tz] = (midnight, next_midnight, day)
    if end_ms > next_midnight or next_midnight - midnight != DAY_MS:
        return None
    tariff = schedule.at(day)
    tou = _periods_of(tariff, tz, day, midnight)
    cuts = tou.cuts
    first, last = bisect.bisect_right(cuts, start_ms), bisect.bisect_left(cuts, end_ms)
    if first == last:
        return day, tariff, [(wh, tou.periods[first])]
    pieces = split_energy(start_ms, end_ms, wh, cuts[first:last])
    return day, tariff, [(w, tou.periods[first + i]) for i, (_, _, w) in enumerate(pieces) if w]


def _pieces(
    schedule: Schedule, tz: ZoneInfo, start_ms: int, end_ms: int, wh: int
) -> list[tuple[date, Tariff, int, Period]]:
    """The interval's pieces: (local day, tariff in force, Wh, TOU period)."""
    quick = _pieces_in_day(schedule, tz, start_ms, end_ms, wh)
    if quick is not None:
        day, tariff, parts = quick
        return [(day, tariff, w, period) for w, period in parts]
    return _pieces_anywhere(schedule, tz, start_ms, end_ms, wh)


def _pieces_anywhere(
    schedule: Schedule, tz: ZoneInfo, start_ms: int, end_ms: int, wh: int
) -> list[tuple[date, Tariff, int, Period]]:
    """Any interval (across midnights, tariff changes, a DST day), cut the long way."""
    out: list[tuple[date, Tariff, int, Period]] = []
    for a, _b, piece_wh in split_energy(
        start_ms, end_ms, wh, cut_points(schedule, tz, start_ms, end_ms)
    ):
        if piece_wh == 0:
            continue
        local = _local(a, tz)
        tariff: Tariff = schedule.at(local.date())
        period = Period.FLAT if tariff.flat_only else tariff.period_at(local.time())
        out.append((local.date(), tariff, piece_wh, period))
    return out


@functools.lru_cache(maxsize=8_192)
def one_line(cycle: date, tariff: str, tier: int, period: Period, wh: int, price: Decimal) -> Line:
    """The line of an interval priced in one piece: what :func:`rate_interval`'s walk makes of
    it (its amount summed from zero, as the walk sums), kept for the next interval of the same
    energy at the same price — a quarter hour's Wh repeat across a utility's meters."""
    return Line(cycle, tariff, tier, period, wh, price, Decimal(0) + kwh_amount(wh, price))


def rate_interval(
    schedule: Schedule,
    tz: ZoneInfo,
    anchor: date,
    start_ms: int,
    end_ms: int,
    wh: int,
    counters: dict[date, int],
    terms: TierTerms | None = None,
) -> list[Line]:
    """Price one interval's energy; ``counters`` (Wh used so far per cycle start) is advanced.

    Raises TariffError when no tariff is in force for part of the interval.
    """
    if wh < 0:
        raise ValueError(f"negative energy {wh} Wh")
    if wh == 0:
        return []
    quick = _pieces_in_day(schedule, tz, start_ms, end_ms, wh)
    if quick is not None and len(quick[2]) == 1:  # most intervals: one period, one tier
        day, tariff, ((piece_wh, period),) = quick
        cycle, tiers_wh, used = _cycle_of(day, tariff, anchor, terms, counters)
        tier = bisect.bisect_right(tiers_wh, used)  # thresholds ascend: those reached
        if tier == len(tiers_wh) or used + piece_wh <= tiers_wh[tier]:
            counters[cycle] = used + piece_wh
            return [one_line(cycle, tariff.code, tier + 1, period, piece_wh,
                             tariff.price(tier, period))]  # fmt: skip
    return _walk(schedule, tz, anchor, start_ms, end_ms, wh, counters, terms)


def _cycle_of(
    day: date, tariff: Tariff, anchor: date, terms: TierTerms | None, counters: dict[date, int]
) -> tuple[date, tuple[int, ...], int]:
    """The tariff cycle a local day falls in, its tier thresholds (Wh) and the Wh used so far."""
    cycle = cycle_start(day, anchor, tariff.cycle)
    return cycle, thresholds(tariff, cycle, anchor, terms), counters.get(cycle, 0)


def _walk(
    schedule: Schedule,
    tz: ZoneInfo,
    anchor: date,
    start_ms: int,
    end_ms: int,
    wh: int,
    counters: dict[date, int],
    terms: TierTerms | None,
) -> list[Line]:
    """:func:`rate_interval` the long way: piece by piece, tier by tier."""
    lines: dict[tuple[date, str, int, Period, Decimal], list[int | Decimal]] = {}
    for day, tariff, piece_wh, period in _pieces(schedule, tz, start_ms, end_ms, wh):
        if piece_wh == 0:
            continue
        cycle, tiers_wh, used = _cycle_of(day, tariff, anchor, terms, counters)
        remaining = piece_wh
        while remaining:
            tier = bisect.bisect_right(tiers_wh, used)  # thresholds ascend: those reached
            room = tiers_wh[tier] - used if tier < len(tiers_wh) else remaining
            take = min(remaining, room)
            price = tariff.price(tier, period)
            key = (cycle, tariff.code, tier + 1, period, price)
            acc = lines.setdefault(key, [0, Decimal(0)])
            acc[0] = int(acc[0]) + take
            acc[1] = Decimal(acc[1]) + kwh_amount(take, price)
            used += take
            remaining -= take
        counters[cycle] = used
    return [
        Line(cycle=c, tariff=code, tier=t, period=p, wh=int(v[0]), price=pr, amount=Decimal(v[1]))
        for (c, code, t, p, pr), v in lines.items()
    ]


def round_fen(cny: Decimal) -> int:
    """CNY → integer fen, half up (四舍五入), the one rounding a charge ever sees."""
    return int((cny * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
