"""In-memory ingestion counters and latency histograms (logged periodically, read by ``stats()``).

Latencies go into fixed logarithmic buckets (about 4 % wide, 10 µs to ~15 min), so recording
is a bisect and the memory is constant however long the process runs; a percentile is exact
to one bucket.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

_LOW_S = 1e-5
_GROWTH = 1.04
_EDGES = [_LOW_S * _GROWTH**i for i in range(int(math.log(1e8) / math.log(_GROWTH)) + 1)]


class Histogram:
    """Counts of durations in seconds, by logarithmic bucket."""

    __slots__ = ("count", "counts", "max_s", "total_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(_EDGES) + 1)
        self.count = 0
        self.total_s = 0.0
        self.max_s = 0.0

    def add(self, seconds: float, n: int = 1) -> None:
        self.counts[bisect.bisect_left(_EDGES, seconds)] += n
        self.count += n
        self.total_s += seconds * n
        if seconds > self.max_s:
            self.max_s = seconds

    def add_many(self, seconds: Iterable[float]) -> None:
        edges, counts, left = _EDGES, self.counts, bisect.bisect_left
        n = 0
        total = 0.0
        top = self.max_s
        for s in seconds:
            counts[left(edges, s)] += 1
            n += 1
            total += s
            if s > top:
                top = s
        self.count += n
        self.total_s += total
        self.max_s = top

    def percentile(self, p: float) -> float:
        """The upper edge of the bucket holding the p-th percentile (0 when empty)."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for i, c in enumerate(self.counts):
            seen += c
            if seen >= rank:
                return min(_EDGES[i] if i < len(_EDGES) else self.max_s, self.max_s)
        return self.max_s


@dataclass
class IngestStats:
    """What ingestion has done since the process started."""

    messages: int = 0  # MQTT messages received
    readings_received: int = 0  # values in readings messages, before de-duplication
    accepted: int = 0  # readings stored
    duplicates: int = 0  # readings whose natural key was already stored
    events_accepted: int = 0
    events_duplicates: int = 0
    states: int = 0  # births and deaths applied
    dead_letters: int = 0
    gaps: int = 0  # sequence ranges found missing
    gaps_filled: int = 0  # missing sequence numbers that arrived late
    pending_meters: int = 0  # unknown meters registered as pending
    batches: int = 0
    retries: int = 0  # failed commits that were retried
    sessions_lost: int = 0  # reconnects where the broker had forgotten our session
    hook_errors: int = 0
    dropped: int = 0  # refused by the database even as a dead letter (logged as critical)
    commit: Histogram = field(default_factory=Histogram)  # one batch's transaction(s)
    latency: Histogram = field(default_factory=Histogram)  # receipt → commit, per message

    def snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            k: v for k, v in self.__dict__.items() if not isinstance(v, Histogram)
        }
        out["commit_p50_ms"] = round(self.commit.percentile(50) * 1000, 2)
        out["commit_p99_ms"] = round(self.commit.percentile(99) * 1000, 2)
        out["latency_p50_ms"] = round(self.latency.percentile(50) * 1000, 2)
        out["latency_p99_ms"] = round(self.latency.percentile(99) * 1000, 2)
        out["latency_max_ms"] = round(self.latency.max_s * 1000, 2)
        return out
