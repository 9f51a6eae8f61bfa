"""The area figures as pure functions: line loss (线损), voltage qualification (电压合格率) and
reliability (SAIFI, SAIDI, RS-1, RS-3). No database, no clock: the service gathers the
numbers, these decide what they mean. docs/areas.md explains each formula."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

# a loss rate above this (or below zero) puts an area on the abnormal list
ABNORMAL_LOSS_RATE = 0.10
NOMINAL_PHASE_MV = 220_000  # 220 V phase voltage; a 380 V line is 220 V phase to neutral


class LossState(enum.StrEnum):
    NORMAL = "normal"
    HIGH = "high"  # above ABNORMAL_LOSS_RATE
    NEGATIVE = "negative"  # the customers' meters registered more than came in
    INCOMPLETE = "incomplete"  # a meter did not report: the figure is not to be trusted
    NO_TOTAL = "no_total"  # no total meter (台区总表) or it did not report


@dataclass(frozen=True)
class LineLoss:
    supplied_wh: int | None  # the total meter's energy × CT × PT
    billed_wh: int  # the sum of the customers' meters that reported
    loss_wh: int | None
    rate: float | None  # loss / supplied, 4 decimals
    expected_meters: int
    reporting_meters: int
    state: LossState


def line_loss(
    total_meter_wh: int | None,
    ct_ratio: int,
    pt_ratio: int,
    customer_wh: Mapping[int, int],
    expected_meters: int,
    abnormal_rate: float = ABNORMAL_LOSS_RATE,
) -> LineLoss:
    """线损 of one area and one day: energy in (the total meter, scaled by its CT and PT
    ratios) minus the energy its customers' meters registered. ``customer_wh`` holds only the
    meters that reported; a figure from fewer meters than expected is marked incomplete."""
    billed = sum(customer_wh.values())
    reporting = len(customer_wh)
    if total_meter_wh is None:
        return LineLoss(None, billed, None, None, expected_meters, reporting, LossState.NO_TOTAL)
    supplied = total_meter_wh * ct_ratio * pt_ratio
    loss = supplied - billed
    rate = round(loss / supplied, 4) if supplied else None
    if reporting < expected_meters:
        state = LossState.INCOMPLETE
    elif loss < 0:
        state = LossState.NEGATIVE
    elif rate is not None and rate > abnormal_rate:
        state = LossState.HIGH
    else:
        state = LossState.NORMAL
    return LineLoss(supplied, billed, loss, rate, expected_meters, reporting, state)


@dataclass(frozen=True)
class MonthLoss:
    supplied_wh: int | None
    billed_wh: int
    loss_wh: int | None
    rate: float | None
    days: int
    complete_days: int
    state: LossState


def month_loss(
    days: Sequence[tuple[int | None, int, LossState]], abnormal_rate: float = ABNORMAL_LOSS_RATE
) -> MonthLoss:
    """A month's loss from its days' (supplied, billed, state): the sums over the days that
    have a total-meter figure; incomplete when any day was incomplete or had none."""
    with_total = [(s, b) for s, b, _ in days if s is not None]
    complete = sum(1 for _, _, st in days if st not in (LossState.INCOMPLETE, LossState.NO_TOTAL))
    if not with_total:
        billed = sum(b for _, b, _ in days)
        return MonthLoss(None, billed, None, None, len(days), complete, LossState.NO_TOTAL)
    supplied = sum(s for s, _ in with_total)
    billed = sum(b for _, b in with_total)
    loss = supplied - billed
    rate = round(loss / supplied, 4) if supplied else None
    if complete < len(days):
        state = LossState.INCOMPLETE
    elif loss < 0:
        state = LossState.NEGATIVE
    elif rate is not None and rate > abnormal_rate:
        state = LossState.HIGH
    else:
        state = LossState.NORMAL
    return MonthLoss(supplied, billed, loss, rate, len(days), complete, state)


@dataclass(frozen=True)
class VoltageLimits:
    """Allowed deviation from the nominal phase voltage, in per mille (GB/T 12325: ±7 % for
    three-phase 380 V, +7 % / −10 % for single-phase 220 V)."""

    upper_permille: int
    lower_permille: int

    def bounds_mv(self, nominal_mv: int = NOMINAL_PHASE_MV) -> tuple[int, int]:
        return (
            nominal_mv * (1000 - self.lower_permille) // 1000,
            nominal_mv * (1000 + self.upper_permille) // 1000,
        )


THREE_PHASE = VoltageLimits(upper_permille=70, lower_permille=70)
SINGLE_PHASE = VoltageLimits(upper_permille=70, lower_permille=100)


@dataclass(frozen=True)
class VoltageQuality:
    samples: int
    within: int
    above: int
    below: int
    rate: float | None  # within / samples, 4 decimals

    @staticmethod
    def of(values_mv: Iterable[int], limits: VoltageLimits) -> VoltageQuality:
        lo, hi = limits.bounds_mv()
        n = within = above = below = 0
        for v in values_mv:
            n += 1
            if v > hi:
                above += 1
            elif v < lo:
                below += 1
            else:
                within += 1
        return VoltageQuality(n, within, above, below, round(within / n, 4) if n else None)

    def __add__(self, other: VoltageQuality) -> VoltageQuality:
        n = self.samples + other.samples
        within = self.within + other.within
        rate = round(within / n, 4) if n else None
        return VoltageQuality(n, within, self.above + other.above, self.below + other.below, rate)


NO_SAMPLES = VoltageQuality(0, 0, 0, 0, None)


def unbalance(phases: Sequence[int]) -> float | None:
    """Three-phase unbalance of one sample: (max − min) / max, 4 decimals (the usual 台区
    current-unbalance figure); None when the phases carry nothing."""
    top = max(phases)
    return round((top - min(phases)) / top, 4) if top > 0 else None


class OutageCause(enum.StrEnum):
    PLANNED = "planned"  # 计划停电
    UNPLANNED = "unplanned"  # 故障停电
    EMERGENCY = "emergency"  # 临时抢修 / 紧急停电
    LIMITED = "limited"  # 系统电源不足限电: left out of RS-3


@dataclass(frozen=True)
class Interruption:
    """One customer without supply from ``off_ms`` to ``on_ms`` (one outage)."""

    customer: int
    off_ms: int
    on_ms: int
    cause: OutageCause


@dataclass(frozen=True)
class Reliability:
    customers: int
    interruptions: int  # customer interruptions
    customer_hours: float
    saifi: float | None  # interruptions per customer
    saidi_hours: float | None  # hours without supply per customer
    rs1: float | None  # 供电可靠率 RS-1: 1 − SAIDI / period
    rs3: float | None  # RS-3: the same without the interruptions caused by 限电


def reliability(
    customers: int, interruptions: Sequence[Interruption], from_ms: int, to_ms: int
) -> Reliability:
    """SAIFI, SAIDI and RS-1 / RS-3 over [from_ms, to_ms) for ``customers`` served. An
    interruption counts for the part of it inside the period (one still open is clipped)."""
    hours = (to_ms - from_ms) / 3_600_000
    count = 0
    total = limited = 0.0
    for i in interruptions:
        off, on = max(i.off_ms, from_ms), min(i.on_ms, to_ms)
        if on <= off:
            continue
        count += 1
        h = (on - off) / 3_600_000
        total += h
        if i.cause == OutageCause.LIMITED:
            limited += h
    if customers == 0 or hours <= 0:
        return Reliability(customers, count, round(total, 4), None, None, None, None)
    saidi = total / customers
    return Reliability(
        customers=customers,
        interruptions=count,
        customer_hours=round(total, 4),
        saifi=round(count / customers, 4),
        saidi_hours=round(saidi, 4),
        rs1=round(1 - saidi / hours, 6),
        rs3=round(1 - (total - limited) / customers / hours, 6),
    )
