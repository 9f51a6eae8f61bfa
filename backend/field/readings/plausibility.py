"""Plausibility checks on a field reading, against estimated (估抄) and missed (漏抄) reads (R10).

Pure functions: each takes the facts it needs and returns a ``Finding`` or ``None``. A finding
becomes a flag a supervisor reviews; it never blocks the reading, changes a bill or penalises
anyone by itself. Thresholds come from settings (``Thresholds.from_settings``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import msgspec

from backend.field.geo import haversine_m
from backend.settings import Settings
from backend.texts import Params, TextCode

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


class FlagKind(enum.StrEnum):
    VALUE_BELOW_PREVIOUS = "value_below_previous"  # register went backwards
    CONSUMPTION_OUT_OF_RANGE = "consumption_out_of_range"  # far from the customer's usual use
    FAR_FROM_METER = "far_from_meter"  # fix not where the meter is
    POOR_ACCURACY = "poor_accuracy"  # the fix proves little
    IMPOSSIBLE_SPEED = "impossible_speed"  # the inspector could not have got there in time
    REPEATED_COORDINATES = "repeated_coordinates"  # one fix reused for meters far apart
    LATE_SUBMISSION = "late_submission"  # uploaded long after the fix
    AMI_DISAGREEMENT = "ami_disagreement"  # the meter's own AMI readings say otherwise
    CLOCK_SKEW = "clock_skew"  # device clock and GPS fix time disagree


class FlagText(TextCode):
    """What a finding says, for people (stored with the flag; the PWA words it)."""

    VALUE_BELOW_PREVIOUS = "check.value_below_previous"
    CONSUMPTION_OUT_OF_RANGE = "check.consumption_out_of_range"
    FAR_FROM_METER = "check.far_from_meter"
    POOR_ACCURACY = "check.poor_accuracy"
    SPEED_EARLIER = "check.speed_earlier"
    SPEED_LATER = "check.speed_later"
    SAME_INSTANT = "check.same_instant"
    REPEATED_COORDINATES = "check.repeated_coordinates"
    REPEATED_COORDINATES_MORE = "check.repeated_coordinates_more"
    LATE_SUBMISSION = "check.late_submission"
    AMI_BELOW = "check.ami_below"
    AMI_ABOVE = "check.ami_above"
    CLOCK_SKEW = "check.clock_skew"


class Finding(msgspec.Struct, frozen=True):
    kind: FlagKind
    detail: str  # English, for logs
    code: FlagText  # the same, for people, with ``params``
    params: Params = msgspec.field(default_factory=dict)


class Sample(NamedTuple):
    """A register value at a time (UTC epoch ms, Wh)."""

    ts: int
    value: int


class Fix(NamedTuple):
    ts: int  # UTC epoch ms
    lat: float
    lon: float
    accuracy_m: float


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    rollover_wh: int = 1_000_000_000
    consumption_high_factor: float = 3.0
    consumption_low_factor: float = 0.2
    usual_min_daily_wh: int = 500
    usual_min_history_days: int = 7
    location_tolerance_m: float = 30.0
    max_accuracy_m: float = 50.0
    max_speed_kmh: float = 120.0
    late_submission_hours: float = 24.0
    ami_tolerance_wh: int = 1000
    clock_skew_minutes: float = 10.0

    @classmethod
    def from_settings(cls, s: Settings) -> Thresholds:
        return cls(
            rollover_wh=s.field_register_rollover_wh,
            consumption_high_factor=s.field_consumption_high_factor,
            consumption_low_factor=s.field_consumption_low_factor,
            usual_min_daily_wh=s.field_usual_min_daily_wh,
            usual_min_history_days=s.field_usual_min_history_days,
            location_tolerance_m=s.field_location_tolerance_m,
            max_accuracy_m=s.field_max_accuracy_m,
            max_speed_kmh=s.field_max_speed_kmh,
            late_submission_hours=s.field_late_submission_hours,
            ami_tolerance_wh=s.field_ami_tolerance_wh,
            clock_skew_minutes=s.field_clock_skew_minutes,
        )


def kwh(wh: float) -> str:
    return f"{wh / 1000:.2f} kWh"


def is_rollover(previous: int, value: int, rollover_wh: int) -> bool:
    """A register at the top of its range wrapping to the bottom (999999.99 → 000000.xx kWh)."""
    return previous >= rollover_wh * 0.9 and value <= rollover_wh * 0.1


def check_value_below_previous(
    value: int, previous: Sample | None, th: Thresholds
) -> Finding | None:
    """The register is lower than the meter's previous reading. A replaced meter has its own
    chain of readings (its own meter row), so a replacement never compares against the old one."""
    if previous is None or value >= previous.value:
        return None
    if is_rollover(previous.value, value, th.rollover_wh):
        return None
    return Finding(
        FlagKind.VALUE_BELOW_PREVIOUS,
        f"{kwh(value)} is {kwh(previous.value - value)} below the previous reading "
        f"{kwh(previous.value)} and is not a register rollover",
        FlagText.VALUE_BELOW_PREVIOUS,
        {"value_wh": value, "below_wh": previous.value - value, "previous_wh": previous.value},
    )


def usual_daily_wh(first: Sample | None, last: Sample | None, th: Thresholds) -> float | None:
    """The customer's usual consumption per day from two readings of the meter's history, or
    None when the history is too short (or broken) to say."""
    if first is None or last is None or last.value < first.value:
        return None
    days = (last.ts - first.ts) / DAY_MS
    if days < th.usual_min_history_days:
        return None
    return (last.value - first.value) / days


def daily_rates(usual: float, th: Thresholds) -> tuple[float, float]:
    """Lowest and highest plausible use per day (Wh) for a customer whose usual use is known.

    The low side applies only to customers who normally use something (a vacant flat may read
    zero); the high side has a floor so a light user's first kettle is not an anomaly."""
    low = usual * th.consumption_low_factor if usual >= th.usual_min_daily_wh else 0.0
    high = max(usual, th.usual_min_daily_wh) * th.consumption_high_factor
    return low, high


def expected_range(
    previous: Sample | None, usual: float | None, at_ts: int, th: Thresholds
) -> tuple[int, int] | None:
    """The register values a reading at ``at_ts`` may plausibly show (Wh, inclusive):
    previous + low/day × days … previous + high/day × max(days, 1). The app computes the same
    from the book's ``expected`` (previous value and the two daily rates)."""
    if previous is None or usual is None or at_ts < previous.ts:
        return None
    days = (at_ts - previous.ts) / DAY_MS
    low_rate, high_rate = daily_rates(usual, th)
    low = previous.value + math.floor(low_rate * days)
    high = previous.value + math.ceil(high_rate * max(days, 1.0))
    return (low, high)


def check_consumption(
    value: int, ts: int, previous: Sample | None, usual: float | None, th: Thresholds
) -> Finding | None:
    span = expected_range(previous, usual, ts, th)
    if span is None or previous is None or usual is None or value < previous.value:
        return None  # nothing to compare, or already flagged as below previous
    low, high = span
    if low <= value <= high:
        return None
    days = (ts - previous.ts) / DAY_MS
    used = value - previous.value
    daily = used / max(days, 1e-9)
    return Finding(
        FlagKind.CONSUMPTION_OUT_OF_RANGE,
        f"{kwh(used)} in {days:.1f} days ({kwh(daily)}/day) against a usual "
        f"{kwh(usual)}/day: expected a reading between {kwh(low)} and {kwh(high)}",
        FlagText.CONSUMPTION_OUT_OF_RANGE,
        {
            "used_wh": used,
            "days": round(days, 1),
            "daily_wh": round(daily),
            "usual_wh": round(usual),
            "low_wh": low,
            "high_wh": high,
        },
    )


def check_far_from_meter(
    fix: Fix, meter: tuple[float, float] | None, th: Thresholds
) -> Finding | None:
    if meter is None:
        return None
    d = haversine_m(fix.lat, fix.lon, meter[0], meter[1])
    allowed = fix.accuracy_m + th.location_tolerance_m
    if d <= allowed:
        return None
    return Finding(
        FlagKind.FAR_FROM_METER,
        f"the fix is {d:.0f} m from the meter's registered location; allowed {allowed:.0f} m "
        f"(accuracy {fix.accuracy_m:.0f} m + tolerance {th.location_tolerance_m:.0f} m)",
        FlagText.FAR_FROM_METER,
        {
            "distance_m": round(d),
            "allowed_m": round(allowed),
            "accuracy_m": round(fix.accuracy_m),
            "tolerance_m": round(th.location_tolerance_m),
        },
    )


def check_accuracy(accuracy_m: float, th: Thresholds) -> Finding | None:
    if accuracy_m <= th.max_accuracy_m:
        return None
    return Finding(
        FlagKind.POOR_ACCURACY,
        f"GPS accuracy {accuracy_m:.0f} m is worse than the limit of {th.max_accuracy_m:.0f} m",
        FlagText.POOR_ACCURACY,
        {"accuracy_m": round(accuracy_m), "limit_m": round(th.max_accuracy_m)},
    )


def speed_kmh(a: Fix, b: Fix) -> float:
    """Lowest speed consistent with both fixes: the distance less both accuracy radii."""
    d = max(0.0, haversine_m(a.lat, a.lon, b.lat, b.lon) - a.accuracy_m - b.accuracy_m)
    if d == 0.0:
        return 0.0
    dt_h = abs(b.ts - a.ts) / HOUR_MS
    return float("inf") if dt_h == 0 else d / 1000 / dt_h


def check_speed(fix: Fix, neighbours: Iterable[Fix], th: Thresholds) -> Finding | None:
    """Against the same inspector's fixes just before and just after (readings or track)."""
    worst: tuple[float, Fix] | None = None
    for other in neighbours:
        v = speed_kmh(fix, other)
        if v > th.max_speed_kmh and (worst is None or v > worst[0]):
            worst = (v, other)
    if worst is None:
        return None
    v, other = worst
    d = haversine_m(fix.lat, fix.lon, other.lat, other.lon)
    gap_s = abs(fix.ts - other.ts) / 1000
    instant = v == float("inf")
    speed = "at the same instant" if instant else f"{v:.0f} km/h"
    earlier = other.ts <= fix.ts
    code = (
        FlagText.SAME_INSTANT
        if instant
        else FlagText.SPEED_EARLIER
        if earlier
        else FlagText.SPEED_LATER
    )
    params: Params = {"distance_m": round(d), "limit_kmh": round(th.max_speed_kmh)}
    if not instant:
        params.update(seconds=round(gap_s), speed_kmh=round(v))
    return Finding(
        FlagKind.IMPOSSIBLE_SPEED,
        f"{d:.0f} m from the inspector's fix {gap_s:.0f} s "
        f"{'earlier' if earlier else 'later'}: {speed}, "
        f"limit {th.max_speed_kmh:.0f} km/h",
        code,
        params,
    )


class SameFix(NamedTuple):
    """Another reading with exactly the same coordinates, and how far apart the meters are."""

    meter_id: str
    reading_id: str
    meters_apart_m: float | None


def check_repeated_coordinates(matches: Sequence[SameFix], th: Thresholds) -> Finding | None:
    """Real GPS fixes jitter; bit-identical coordinates for meters in different places mean one
    fix was reused (or the location faked). Meters in one meter box may share a cached fix."""
    far = [
        m for m in matches if m.meters_apart_m is None or m.meters_apart_m > th.location_tolerance_m
    ]
    if not far:
        return None
    shown = ", ".join(f"meter {m.meter_id} (reading {m.reading_id})" for m in far[:5])
    more = f" and {len(far) - 5} more" if len(far) > 5 else ""
    params: Params = {"meters": ", ".join(m.meter_id for m in far[:5])}
    if len(far) > 5:
        params["more"] = len(far) - 5
    return Finding(
        FlagKind.REPEATED_COORDINATES,
        f"identical coordinates were submitted for {shown}{more}",
        FlagText.REPEATED_COORDINATES_MORE if len(far) > 5 else FlagText.REPEATED_COORDINATES,
        params,
    )


def check_late_submission(fix_at: int, received_at: int, th: Thresholds) -> Finding | None:
    late_h = (received_at - fix_at) / HOUR_MS
    if late_h <= th.late_submission_hours:
        return None
    return Finding(
        FlagKind.LATE_SUBMISSION,
        f"received {late_h:.1f} h after the fix; limit {th.late_submission_hours:.0f} h",
        FlagText.LATE_SUBMISSION,
        {"hours": round(late_h, 1), "limit_hours": round(th.late_submission_hours)},
    )


def check_ami(
    value: int, before: Sample | None, after: Sample | None, th: Thresholds
) -> Finding | None:
    """A register only rises: the field value must lie between the meter's AMI readings just
    before and just after it (within the tolerance). One side alone bounds one side."""
    tol = th.ami_tolerance_wh
    if before is not None and value < before.value - tol:
        return Finding(
            FlagKind.AMI_DISAGREEMENT,
            f"{kwh(value)} is below the AMI reading {kwh(before.value)} taken earlier "
            f"(tolerance {kwh(tol)})",
            FlagText.AMI_BELOW,
            {"value_wh": value, "ami_wh": before.value, "tolerance_wh": tol},
        )
    if after is not None and value > after.value + tol:
        return Finding(
            FlagKind.AMI_DISAGREEMENT,
            f"{kwh(value)} is above the AMI reading {kwh(after.value)} taken later "
            f"(tolerance {kwh(tol)})",
            FlagText.AMI_ABOVE,
            {"value_wh": value, "ami_wh": after.value, "tolerance_wh": tol},
        )
    return None


def check_clock_skew(device_at: int, fix_at: int, th: Thresholds) -> Finding | None:
    skew_min = abs(device_at - fix_at) / 60_000
    if skew_min <= th.clock_skew_minutes:
        return None
    return Finding(
        FlagKind.CLOCK_SKEW,
        f"the device clock and the GPS fix time differ by {skew_min:.0f} min "
        f"(limit {th.clock_skew_minutes:.0f} min): a stale fix or a wrong phone clock",
        FlagText.CLOCK_SKEW,
        {"minutes": round(skew_min), "limit_minutes": round(th.clock_skew_minutes)},
    )
