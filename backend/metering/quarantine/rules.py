"""Plausibility before money: is a reading one a meter could have produced? (pure: no
database, no clock).

A reading that fails a rule is *held* (``backend.metering.intervals.HELD``): stored, flagged
with a reason code and its parameters, never charged nor counted until a person releases or
rejects it. The rules, in the order they are judged (the first that fails names the hold):

* ``negative``: a cumulative register (energy, Wh / varh) below zero;
* ``future``: acquired later than the server's clock plus the clock-skew allowance;
* ``out_of_range``: a cumulative register at or beyond the largest register modulus a meter
  has (``REGISTER_MAX_WH``): no meter can show it;
* ``jump``: more energy since the chain's previous accepted reading than the meter's rated
  power (current × voltage × phases) could pass in that time, times a margin — unless the
  drop-and-rise is a register rollover, which the interval derivation handles;
* ``ami_disagreement`` (field readings): an inspector's reading that disagrees with the
  meter's own AMI readings beyond the tolerance waits for a person before billing.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from backend.metering.intervals import ROLLOVER_MODULI, Point, rollover_modulus
from backend.settings import Settings
from backend.texts import Params, TextCode
from protocols.contract import ENERGY_QUANTITIES

CUMULATIVE: frozenset[str] = frozenset(q.value for q in ENERGY_QUANTITIES)
REGISTER_MAX_WH = max(ROLLOVER_MODULI)  # no register counts this far: 10^10 Wh
HOUR_MS = 3_600_000
# the rating a meter is judged by when its own columns are not filled in (a common
# single-phase household meter: 5(60) A, 220 V)
DEFAULT_RATED_CURRENT_A = 60
DEFAULT_VOLTAGE_V = 220
DEFAULT_PHASES = 1


class HoldReason(TextCode):
    NEGATIVE = "quarantine.negative"
    FUTURE = "quarantine.future"
    OUT_OF_RANGE = "quarantine.out_of_range"
    JUMP = "quarantine.jump"
    AMI_DISAGREEMENT = "quarantine.ami_disagreement"


class Hold(NamedTuple):
    reason: HoldReason
    params: Params


class Rating(NamedTuple):
    """What a meter can pass: rated (maximum) current, nominal voltage, phases."""

    current_a: int = DEFAULT_RATED_CURRENT_A
    voltage_v: int = DEFAULT_VOLTAGE_V
    phases: int = DEFAULT_PHASES

    @property
    def max_w(self) -> int:
        return self.current_a * self.voltage_v * self.phases


class Limits(NamedTuple):
    skew_ms: int  # a reading this far ahead of the server's clock is still believed
    margin: float  # a jump up to rated power × margin is believed


def limits_of(settings: Settings) -> Limits:
    return Limits(
        round(settings.quarantine_clock_skew_minutes * 60_000), settings.quarantine_power_margin
    )


def max_jump_wh(rating: Rating, elapsed_ms: int, margin: float) -> int:
    """The most energy the meter could register in ``elapsed_ms``, with the margin."""
    return math.ceil(rating.max_w * margin * elapsed_ms / HOUR_MS)


def judge(
    quantity: str,
    ts: int,
    value: int,
    now_ms: int,
    limits: Limits,
    *,
    rating: Rating | None = None,
    previous: Point | None = None,
) -> Hold | None:
    """The first rule the reading fails, or None when it is plausible. ``previous`` is the
    chain's last accepted reading before ``ts`` (None: no jump check)."""
    cumulative = quantity in CUMULATIVE
    if cumulative and value < 0:
        return Hold(HoldReason.NEGATIVE, {"value_wh": value})
    if ts > now_ms + limits.skew_ms:
        return Hold(
            HoldReason.FUTURE,
            {"reading_at": ts, "server_at": now_ms, "ahead_minutes": (ts - now_ms) // 60_000},
        )
    if not cumulative:
        return None
    if value >= REGISTER_MAX_WH:
        return Hold(HoldReason.OUT_OF_RANGE, {"value_wh": value, "limit_wh": REGISTER_MAX_WH})
    if previous is None or rating is None or previous.ts >= ts:
        return None
    delta = value - previous.value
    if delta < 0:
        modulus = rollover_modulus(previous.value, value)
        if modulus is None:
            return None  # a dip: the interval derivation refuses it on its own
        delta = modulus - previous.value + value
    elapsed = ts - previous.ts
    allowed = max_jump_wh(rating, elapsed, limits.margin)
    if delta > allowed:
        return Hold(
            HoldReason.JUMP,
            {
                "value_wh": value,
                "previous_wh": previous.value,
                "jump_wh": delta,
                "allowed_wh": allowed,
                "hours": round(elapsed / HOUR_MS, 2),
                "rated_current_a": rating.current_a,
            },
        )
    return None


class Chains:
    """The newest accepted reading per (meter, register) a writer has seen: the baseline a
    jump is measured from. A stale entry (another process wrote newer readings) only makes
    the check milder — the same energy over a longer time — never holds a plausible reading."""

    def __init__(self, limit: int = 200_000) -> None:
        self._last: dict[tuple[int, str], Point] = {}
        self._limit = limit

    def get(self, meter_pk: int, quantity: str) -> Point | None:
        return self._last.get((meter_pk, quantity))

    def accept(self, meter_pk: int, quantity: str, point: Point) -> None:
        key = (meter_pk, quantity)
        old = self._last.get(key)
        if old is None or old.ts < point.ts:
            if old is None and len(self._last) >= self._limit:
                self._last.clear()  # bounded memory: start afresh (checks resume as readings come)
            self._last[key] = point
