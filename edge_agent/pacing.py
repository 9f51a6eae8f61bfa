"""Overload control: a poll group polls less often when the agent cannot keep up, rather than
letting readings queue.

Each (bus, poll group) has a *stretch* factor s ≥ 1; its effective period is ``every_s × s``
(an aligned group skips slots instead: every ⌈s⌉-th wall-clock multiple). Two signals:

* **lag** — the age (since it was read) of the oldest *live* reading the broker has not yet
  acknowledged (kept by the uplink: stored but not yet in a batch — the outbox remembers when
  each commit's oldest value was read —, in-flight batches, and the last PUBACK of the past
  second). It grows when the agent reads faster than it can store, publish and have
  acknowledged — the uplink or the CPU is the bottleneck, and a queue forms. Readings left
  from before the current connection (the backlog after an outage, drained on purpose at
  ``catch_up_rate``) do not count, and while the broker is unreachable the lag is 0: then the
  outbox is doing its job.
* **lateness** — how late the group's polls start against their schedule. Every poll of two
  cycles in a row starting more than half a period late means the bus cannot go round its
  meters in one period (one late cycle is a hiccup: a long command, a pause of the machine).
  Lateness under 20 ms is never "late": that much is the event loop's jitter.

The rule, evaluated for a group at the start of one of its polls, at most once per effective
period and at most four times a second (a *cycle*)::

    up    if lag > target and lag has not fallen since the last decision,
          or every poll of this cycle and the last started > ½ effective period late:
                                                                           s ← min(s × 1.25, max)
    down  if lag < target / 2 and a poll of the cycle started ≤ ⅒ period late:
                                                                           s ← max(s × 0.95, 1)
    hold  otherwise

Multiplicative and asymmetric (fast up, slow down, a dead band in between): under a sustained
overload s settles where the load the agent asks for fits what it can deliver, and the lag
stays around the target instead of growing; when the load falls, s drifts back to 1. "Has not
fallen" keeps one overload from being answered several times over while the queue it built is
still draining.

Pure: time and the lag are arguments, so tests drive it without a clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

UP = 1.25
DOWN = 0.95
MIN_CYCLE_S = 0.25
BEHIND = 0.5  # of the effective period: every poll of the cycle this late → stretch
ON_TIME = 0.1  # of the effective period: a poll of the cycle no later than this → may shrink
JITTER_S = 0.02  # lateness this small is the event loop's, not the bus's


@dataclass
class Pace:
    """The stretch of one (bus, poll group)."""

    every_s: float
    target_lag_s: float
    max_stretch: float
    stretch: float = 1.0
    reported: int = 0  # the power of two last reported in an event (0: none, or restored)
    _next_decision: float = 0.0
    _last_lag: float = 0.0
    _was_behind: bool = False
    _min_late: float = math.inf
    _polls: int = 0

    @property
    def period_s(self) -> float:
        return self.every_s * self.stretch

    def observe(self, late_s: float) -> None:
        """A poll of the group starts ``late_s`` after it was due."""
        late = max(0.0, late_s)
        self._min_late = min(self._min_late, late)
        self._polls += 1

    def decide(self, now: float, lag_s: float) -> bool:
        """Apply the rule if a cycle has passed; True if the stretch changed."""
        if now < self._next_decision or self._polls == 0:
            return False
        period = self.period_s
        behind = self._min_late > max(BEHIND * period, JITTER_S)
        on_time = self._min_late <= max(ON_TIME * period, JITTER_S)
        before = self.stretch
        if (lag_s > self.target_lag_s and lag_s >= self._last_lag) or (behind and self._was_behind):
            self.stretch = min(self.max_stretch, self.stretch * UP)
        elif lag_s < self.target_lag_s / 2 and on_time:
            lower = self.stretch * DOWN
            self.stretch = 1.0 if lower < 1.01 else lower
        self._last_lag, self._was_behind = lag_s, behind
        self._min_late, self._polls = math.inf, 0
        self._next_decision = now + max(self.period_s, MIN_CYCLE_S)
        return self.stretch != before

    def report(self) -> bool:
        """True when the stretch is worth an event: it reached a new power of two (2×, 4×, …)
        since the last one, or it is back at 1 after one was reported."""
        level = int(math.log2(self.stretch)) if self.stretch >= 2.0 else 0
        if level > self.reported or (self.stretch == 1.0 and self.reported):
            self.reported = level
            return True
        return False
