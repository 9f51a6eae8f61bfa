"""Daily load shapes, the time-of-use schedule (时段表) and deterministic noise.

Everything here is a pure function of its arguments: the same seed and minute always give the
same power, whoever asks and however often, so a simulated meter is reproducible and its energy
registers do not depend on how it is polled.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

MINUTES_PER_DAY = 1440


class Profile(enum.StrEnum):
    RESIDENTIAL = "residential"  # 居民: morning and evening peaks, busier weekends
    COMMERCIAL = "commercial"  # 商业/办公: office hours on weekdays, quiet nights and weekends


class Tariff(enum.IntEnum):
    """Tariff register numbers as DL/T 645 and most Chinese meters number them."""

    SHARP = 1  # 尖
    PEAK = 2  # 峰
    FLAT = 3  # 平
    VALLEY = 4  # 谷


_TARIFF_NAMES = {"尖": Tariff.SHARP, "峰": Tariff.PEAK, "平": Tariff.FLAT, "谷": Tariff.VALLEY}


@dataclass(frozen=True)
class TouSchedule:
    """A daily time-of-use table: ``(start minute of the day, tariff)``, the first at 0."""

    periods: tuple[tuple[int, Tariff], ...]

    def __post_init__(self) -> None:
        starts = [start for start, _ in self.periods]
        if not starts or starts[0] != 0:
            raise ValueError("a TOU schedule starts at 00:00")
        if starts != sorted(set(starts)) or starts[-1] >= MINUTES_PER_DAY:
            raise ValueError("TOU period starts must rise within one day")

    @classmethod
    def parse(cls, rows: Sequence[str]) -> TouSchedule:
        """From rows like ``"08:00 峰"`` (or ``"08:00 2"``), in order."""
        periods = []
        for row in rows:
            try:
                clock, name = row.split()
                hours, minutes = clock.split(":")
                tariff = _TARIFF_NAMES.get(name) or Tariff(int(name))
                periods.append((int(hours) * 60 + int(minutes), tariff))
            except ValueError:
                raise ValueError(
                    f"TOU row {row!r} is not 'HH:MM tariff' (尖/峰/平/谷 or 1-4)"
                ) from None
        return cls(tuple(periods))

    def tariff_at(self, minute_of_day: float) -> Tariff:
        current = self.periods[0][1]
        for start, tariff in self.periods:
            if start > minute_of_day:
                break
            current = tariff
        return current

    def next_change(self, minute_of_day: float) -> int:
        """The next period boundary after ``minute_of_day``; 1440 is the coming midnight."""
        for start, _ in self.periods:
            if start > minute_of_day:
                return start
        return MINUTES_PER_DAY


# An illustrative provincial schedule: valley at night, sharp at the late-morning and evening
# peaks. Real schedules differ by province and season; a meter takes any TouSchedule.
DEFAULT_TOU = TouSchedule.parse(
    ["00:00 谷", "08:00 平", "10:00 峰", "11:00 尖", "12:00 平",
     "17:00 峰", "19:00 尖", "21:00 峰", "22:00 平", "23:00 谷"]
)  # fmt: skip

# (centre hour, width hours, height) bumps on a base load, per profile and day type.
_Bumps = tuple[tuple[float, float, float], ...]
_SHAPES: dict[tuple[Profile, bool], tuple[float, _Bumps]] = {
    (Profile.RESIDENTIAL, False): (
        0.12,
        ((7.0, 0.8, 0.45), (12.3, 1.0, 0.15), (19.6, 1.6, 0.85), (22.4, 0.8, 0.30)),
    ),
    (Profile.RESIDENTIAL, True): (
        0.12,
        (
            (9.0, 1.5, 0.45),
            (12.5, 1.5, 0.35),
            (15.5, 2.0, 0.20),
            (19.4, 1.6, 0.85),
            (22.6, 0.9, 0.3),
        ),
    ),
    (Profile.COMMERCIAL, False): (0.15, ((12.6, 0.6, -0.12), (19.0, 1.0, 0.10))),
    (Profile.COMMERCIAL, True): (0.15, ((13.0, 2.5, 0.20),)),
}
# Office plateau for commercial weekdays: (open hour, close hour, height), smooth edges.
_PLATEAU = {(Profile.COMMERCIAL, False): (8.5, 18.5, 0.82)}
# Heating and air conditioning: January..December.
MONTH_FACTOR = (1.10, 1.05, 0.95, 0.90, 0.95, 1.15, 1.30, 1.30, 1.05, 0.90, 0.95, 1.10)


def _shape(profile: Profile, weekend: bool) -> tuple[float, ...]:
    base, bumps = _SHAPES[(profile, weekend)]
    plateau = _PLATEAU.get((profile, weekend))
    values = []
    for minute in range(MINUTES_PER_DAY):
        hour = (minute + 0.5) / 60
        value = base
        for centre, width, height in bumps:
            value += height * math.exp(-0.5 * ((hour - centre) / width) ** 2)
        if plateau is not None:
            start, end, height = plateau
            rise = 1 / (1 + math.exp(-(hour - start) * 4))
            fall = 1 / (1 + math.exp((hour - end) * 4))
            value += height * rise * fall
        values.append(max(value, 0.02))
    return tuple(values)


def _normalised() -> dict[tuple[Profile, bool], tuple[float, ...]]:
    shapes = {key: _shape(*key) for key in _SHAPES}
    out = {}
    for profile in Profile:
        peak = max(shapes[(profile, False)])
        for weekend in (False, True):
            out[(profile, weekend)] = tuple(v / peak for v in shapes[(profile, weekend)])
    return out


SHAPES = _normalised()  # (profile, weekend) -> 1440 fractions of the weekday peak


def shape_at(profile: Profile, weekend: bool, minute_of_day: int) -> float:
    return SHAPES[(profile, weekend)][minute_of_day]


_MASK = (1 << 64) - 1


def mix(*parts: int) -> int:
    """splitmix64 over the parts: a fast, well-spread 64-bit hash of integers."""
    x = 0x9E3779B97F4A7C15
    for part in parts:
        x = (x ^ (part & _MASK)) * 0xBF58476D1CE4E5B9 & _MASK
        x = (x ^ (x >> 31)) * 0x94D049BB133111EB & _MASK
        x ^= x >> 29
    return x


def unit_noise(*parts: int) -> float:
    """Deterministic noise in [-1, 1) from integers."""
    return mix(*parts) / (1 << 63) - 1.0


def smooth_noise(seed: int, position: float, period: float) -> float:
    """Noise in [-1, 1) that changes smoothly over ``period`` (cosine interpolation)."""
    cell = math.floor(position / period)
    frac = position / period - cell
    a, b = unit_noise(seed, cell), unit_noise(seed, cell + 1)
    weight = (1 - math.cos(frac * math.pi)) / 2
    return a + (b - a) * weight
