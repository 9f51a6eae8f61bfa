"""Clocks for the simulators: the meter model never reads the time itself.

Every model method takes ``now_ms`` (UTC epoch milliseconds). The servers ask a :class:`Clock`
for it, so a test can drive time by hand (:class:`ManualClock`) and the demo can run a day of
load curve in minutes (:class:`ScaledClock`).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def __call__(self) -> int:
        """The current time as UTC epoch milliseconds."""
        ...


def system_clock() -> int:
    """Wall-clock time, UTC epoch milliseconds."""
    return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to: ``clock.advance(minutes=5)``."""

    def __init__(self, start_ms: int) -> None:
        self.now_ms = start_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int = 0, *, seconds: float = 0, minutes: float = 0) -> int:
        step = ms + round(seconds * 1000) + round(minutes * 60_000)
        if step < 0:
            raise ValueError("a ManualClock only moves forward")
        self.now_ms += step
        return self.now_ms

    def set(self, now_ms: int) -> None:
        if now_ms < self.now_ms:
            raise ValueError("a ManualClock only moves forward")
        self.now_ms = now_ms


class ScaledClock:
    """Simulated time running ``speed`` times faster than the wall clock, from ``start_ms``.

    The demo uses it so that load curves, tariff periods and the midnight freeze can be seen
    in minutes rather than days.
    """

    def __init__(self, speed: float, start_ms: int | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._wall0 = time.monotonic_ns()
        self._start = system_clock() if start_ms is None else start_ms

    def __call__(self) -> int:
        elapsed_ms = (time.monotonic_ns() - self._wall0) / 1_000_000
        return self._start + int(elapsed_ms * self.speed)
