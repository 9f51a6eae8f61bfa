"""What an interval is: the one derivation consumption and billing share (pure: no database,
no clock).

A *chain* is one meter's readings of one cumulative register, in time order. Walking it:

* Only readings of an accepted quality take part (``good``, ``backfilled``); ``estimated``,
  ``stale`` and ``invalid`` values are neither charged nor a baseline. A field reading is
  ``good``; an approved correction replaces the value at its instant and is ``good`` too.
* A reading *held* for review (quarantine, ``backend.metering.quarantine``: negative, in the
  future, beyond the register's range, a jump the meter's rated current could not pass, a
  field reading that disagrees with AMI) is stored with the quality ``HELD``: not accepted, so
  it is neither charged nor counted nor a baseline until a person releases it (its quality
  goes back to what it was, and it is announced like a new reading) or rejects it
  (``invalid``). This rule is the only place the exclusion lives.
* Each pair of consecutive accepted readings is an *interval*; its energy is the difference.
* A drop is a *rollover* when the previous value is in the top 10 % of the register's modulus
  and the new one in the bottom 10 % (DL/T 645's ``999999.99 kWh`` wraps at 10^9 Wh, a 32-bit
  Wh counter at 2^32): the energy is ``modulus - previous + new``. A meter whose modulus is not
  known is judged against every modulus in ``ROLLOVER_MODULI``.
* Any other drop is an *anomaly*: the reading is refused (never charged, never a baseline) and
  the chain goes on from the last accepted reading, so 100 → 50 → 110 kWh is 10 kWh, not 60.
* Chains never cross meters: a replacement meter starts its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from protocols.contract import Quality

ACCEPTED_QUALITIES: tuple[str, ...] = (Quality.GOOD.value, Quality.BACKFILLED.value)
# a stored reading awaiting a person's decision (never on the wire: the backend's own marker)
HELD = "held"
# wrap points of energy registers, in the register's integer unit (Wh)
ROLLOVER_MODULI: tuple[int, ...] = (10**9, 2**32, 10**10)
ROLLOVER_MARGIN = 0.1  # previous value in the top 10 %, new value in the bottom 10 %


# ``tuple.__new__(Point, (ts, value))`` builds what ``Point(ts, value)`` builds without the
# Python-level ``__new__`` a NamedTuple's call runs: half the cost, in the loops over every
# reading of a round (consumption's and billing's reads, the walk)
new_tuple = tuple.__new__


class Point(NamedTuple):
    ts: int  # UTC epoch ms
    value: int  # register value, Wh


class Interval(NamedTuple):
    start: Point
    end: Point
    wh: int
    rollover: bool


class Anomaly(NamedTuple):
    reading: Point
    baseline: Point
    kind: str = "negative_delta"


class Walk(NamedTuple):
    intervals: list[Interval]
    anomalies: list[Anomaly]
    first: Point | None  # with no base: the chain's first reading (starts no interval's energy)


def rollover_modulus(
    previous: int, new: int, moduli: Sequence[int] = ROLLOVER_MODULI
) -> int | None:
    for m in moduli:
        if (1 - ROLLOVER_MARGIN) * m <= previous < m and 0 <= new < ROLLOVER_MARGIN * m:
            return m
    return None


def chain(
    base: Point | None, points: Iterable[Point], moduli: Sequence[int] = ROLLOVER_MODULI
) -> Walk:
    """Walk accepted readings in time order from ``base`` (the last accepted reading before
    them). Returns the intervals, the refused readings, and — when there was no base — the
    chain's first reading."""
    intervals: list[Interval] = []
    anomalies: list[Anomaly] = []
    first: Point | None = None
    prev = base
    for p in sorted(points):
        if prev is None:
            prev = first = p
            continue
        if p.ts <= prev.ts:  # the base itself, or a duplicate timestamp
            continue
        delta = p.value - prev.value
        if delta >= 0:
            intervals.append(new_tuple(Interval, (prev, p, delta, False)))
            prev = p
            continue
        modulus = rollover_modulus(prev.value, p.value, moduli)
        if modulus is not None:
            intervals.append(Interval(prev, p, modulus - prev.value + p.value, True))
            prev = p
        else:
            anomalies.append(Anomaly(p, prev))
    return Walk(intervals, anomalies, first)


def last_accepted_before(walk: Walk, base: Point | None, ts: int) -> Point | None:
    """The chain's baseline just before ``ts``: where an interval touched by a reading at
    ``ts`` starts (None when the chain has no accepted reading before it)."""
    found = base if base is not None and base.ts < ts else None
    if walk.first is not None and walk.first.ts < ts:
        found = walk.first
    for iv in walk.intervals:
        if iv.end.ts >= ts:
            break
        found = iv.end
    return found
