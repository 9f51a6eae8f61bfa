"""Instantaneous electrical values consistent with a load: P, Q, S, PF, U, I per phase, f.

Integers in contract units throughout (W, var, VA, mV, mA, thousandths, mHz), so that what the
meter shows and what it integrates agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.contract.quantities import Quantity as Q

NOMINAL_FREQUENCY_MHZ = 50_000


def reactive_w(power_w: int, power_factor: int) -> int:
    """Reactive power (var) for an inductive load of ``power_w`` at ``power_factor``/1000."""
    if power_w == 0:
        return 0
    return round(power_w * math.tan(math.acos(power_factor / 1000)))


@dataclass(frozen=True)
class Phase:
    voltage_mv: int = 0
    current_ma: int = 0
    active_w: int = 0
    reactive_var: int = 0
    apparent_va: int = 0
    power_factor: int = 1000


@dataclass(frozen=True)
class Instantaneous:
    phases: tuple[Phase, Phase, Phase]  # A, B, C; absent phases are all zero
    neutral_ma: int
    frequency_mhz: int

    @property
    def active_w(self) -> int:
        return sum(p.active_w for p in self.phases)

    @property
    def reactive_var(self) -> int:
        return sum(p.reactive_var for p in self.phases)

    @property
    def apparent_va(self) -> int:
        return sum(p.apparent_va for p in self.phases)

    @property
    def power_factor(self) -> int:
        if self.apparent_va == 0:
            return 1000
        return round(1000 * self.active_w / self.apparent_va)

    def quantities(self) -> dict[Q, int]:
        a, b, c = self.phases
        return {
            Q.VOLTAGE_A: a.voltage_mv, Q.VOLTAGE_B: b.voltage_mv, Q.VOLTAGE_C: c.voltage_mv,
            Q.CURRENT_A: a.current_ma, Q.CURRENT_B: b.current_ma, Q.CURRENT_C: c.current_ma,
            Q.CURRENT_N: self.neutral_ma,
            Q.ACTIVE_POWER: self.active_w,
            Q.ACTIVE_POWER_A: a.active_w, Q.ACTIVE_POWER_B: b.active_w,
            Q.ACTIVE_POWER_C: c.active_w,
            Q.REACTIVE_POWER: self.reactive_var,
            Q.REACTIVE_POWER_A: a.reactive_var, Q.REACTIVE_POWER_B: b.reactive_var,
            Q.REACTIVE_POWER_C: c.reactive_var,
            Q.APPARENT_POWER: self.apparent_va,
            Q.APPARENT_POWER_A: a.apparent_va, Q.APPARENT_POWER_B: b.apparent_va,
            Q.APPARENT_POWER_C: c.apparent_va,
            Q.POWER_FACTOR: self.power_factor,
            Q.POWER_FACTOR_A: a.power_factor, Q.POWER_FACTOR_B: b.power_factor,
            Q.POWER_FACTOR_C: c.power_factor,
            Q.FREQUENCY: self.frequency_mhz,
        }  # fmt: skip


def instantaneous(
    *,
    power_w: int,
    peak_w: int,
    power_factor: int,
    weights: Sequence[float],
    nominal_mv: int,
    voltage_noise: Sequence[float],
    frequency_noise: float,
) -> Instantaneous:
    """Split ``power_w`` over the phases by ``weights`` and derive the rest.

    Voltage wanders ±2 % and sags up to 1.5 % under full load; no supply (``nominal_mv`` 0)
    makes everything zero, as a dead meter would show.
    """
    if nominal_mv == 0:
        zero = Phase(power_factor=1000)
        return Instantaneous((zero, zero, zero), 0, 0)
    shares = [round(power_w * w) for w in weights]
    shares[-1] += power_w - sum(shares)
    phases: list[Phase] = []
    currents: list[float] = []
    load = power_w / peak_w if peak_w else 0.0
    for index, share in enumerate(shares):
        voltage = round(nominal_mv * (1 + 0.02 * voltage_noise[index] - 0.015 * min(load, 1.5)))
        reactive = reactive_w(share, power_factor)
        apparent = round(math.hypot(share, reactive))
        current = apparent * 1_000_000 / voltage
        currents.append(current)
        phases.append(
            Phase(
                voltage_mv=voltage,
                current_ma=round(current),
                active_w=share,
                reactive_var=reactive,
                apparent_va=apparent,
                power_factor=power_factor if share else 1000,
            )
        )
    while len(phases) < 3:
        phases.append(Phase())
    if len(currents) == 1:
        neutral = currents[0]
    else:  # phasor sum of three currents 120° apart (same power factor on each phase)
        re = sum(i * math.cos(2 * math.pi * k / 3) for k, i in enumerate(currents))
        im = sum(i * math.sin(2 * math.pi * k / 3) for k, i in enumerate(currents))
        neutral = math.hypot(re, im)
    frequency = NOMINAL_FREQUENCY_MHZ + round(30 * frequency_noise)
    return Instantaneous((phases[0], phases[1], phases[2]), round(neutral), frequency)
