"""Prometheus metrics of the agent, in its own registry (nothing global, one per agent).

The list with meanings is in docs/edge-agent.md ("Monitoring").
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector

# read -> PUBACK, seconds: fine below the overload target (0.5 s) and the 1 s bound
AGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5, 10, 30, 60, 300)


class ManyHistogram(Collector):
    """A Prometheus histogram fed a whole batch at once: one lock and a bisect per value,
    instead of prometheus_client's per-call overhead — a batch of 500 readings is one call."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...]) -> None:
        self.name, self.documentation = name, documentation
        self.bounds = list(buckets)
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0
        self._lock = threading.Lock()

    def observe_many(self, values: Iterable[float]) -> None:
        bounds, counts = self.bounds, self.counts
        total = 0.0
        with self._lock:
            for v in values:
                counts[bisect.bisect_left(bounds, v)] += 1
                total += v
            self.sum += total

    def count(self) -> int:
        return sum(self.counts)

    def count_above(self, bound: float) -> int:
        """Observations greater than ``bound`` (which must be one of the buckets)."""
        return sum(self.counts[self.bounds.index(bound) + 1 :])

    def collect(self) -> Iterator[HistogramMetricFamily]:
        with self._lock:
            counts, total = list(self.counts), self.sum
        cumulative, running = [], 0
        for bound, n in zip([*self.bounds, float("inf")], counts, strict=True):
            running += n
            cumulative.append((str(bound) if bound != float("inf") else "+Inf", running))
        yield HistogramMetricFamily(
            self.name, self.documentation, buckets=cumulative, sum_value=total
        )


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        p = "meterline_agent_"
        self.polls = Counter(p + "polls", "Meter polls by result", ["meter", "result"], registry=r)
        self.meter_online = Gauge(
            p + "meter_online", "1 if the meter answers", ["meter"], registry=r
        )
        self.frame_errors = Counter(
            p + "frame_errors", "Garbage or malformed frames on a bus", ["bus", "kind"], registry=r
        )
        self.outbox_depth = Gauge(
            p + "outbox_depth", "Rows waiting for a PUBACK", ["channel"], registry=r
        )
        self.outbox_oldest_age = Gauge(
            p + "outbox_oldest_age_seconds", "Age of the oldest row in the outbox", registry=r
        )
        self.readings_dropped = Gauge(
            p + "readings_dropped",
            "Readings dropped by the outbox limits since the outbox was created (persistent)",
            registry=r,
        )
        self.storage_errors = Gauge(
            p + "storage_errors",
            "Writes the agent's disk refused (full or failing) since the agent started",
            registry=r,
        )
        self.storage_failing = Gauge(
            p + "storage_failing",
            "1 while the agent's disk refuses writes (nothing new is recorded)",
            registry=r,
        )
        self.polling_paused = Gauge(
            p + "polling_paused", "1 while the full outbox (stop_polling) pauses polls", registry=r
        )
        self.commands = Counter(
            p + "commands", "Command acknowledgements by state", ["state"], registry=r
        )
        self.outbox_commits = Counter(
            p + "outbox_commits",
            "Outbox transactions committed (each one fsync: polled values, batches formed, "
            "deletions after PUBACKs)",
            registry=r,
        )
        self.published = Counter(
            p + "published_batches", "Batches acknowledged by the broker", ["channel"], registry=r
        )
        self.publish_latency = Histogram(
            p + "publish_latency_seconds",
            "From publish to its PUBACK",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.mqtt_connected = Gauge(p + "mqtt_connected", "1 while connected", registry=r)
        self.awaiting_receipt = Gauge(
            p + "batches_awaiting_receipt",
            "Batches acknowledged by the broker whose backend receipt has not come yet",
            registry=r,
        )
        self.awaiting_receipt_age = Gauge(
            p + "oldest_awaiting_receipt_seconds",
            "Age of the oldest batch awaiting its receipt",
            registry=r,
        )
        self.republished = Counter(
            p + "republished_batches",
            "Batches sent again because no receipt came within receipt_timeout_s",
            registry=r,
        )
        self.receipts_malformed = Counter(
            p + "receipts_malformed", "Receipts that could not be decoded (ignored)", registry=r
        )
        self.read_to_puback = ManyHistogram(
            p + "read_to_puback_seconds",
            "From a reading's acquisition to the broker's PUBACK of its batch, per reading",
            AGE_BUCKETS,
        )
        r.register(self.read_to_puback)
        self.poll_period = Gauge(
            p + "poll_period_seconds",
            "Effective period of a poll group (every_s times its stretch)",
            ["bus", "group"],
            registry=r,
        )
        self.poll_stretch = Gauge(
            p + "poll_stretch",
            "How much overload has stretched a poll group's period (1: as configured)",
            ["bus", "group"],
            registry=r,
        )
        self.clock_corrections = Counter(
            p + "clock_corrections", "Broadcast time corrections sent", ["bus"], registry=r
        )

    def serve(self, listen: str) -> object:
        host, _, port = listen.rpartition(":")
        server, _thread = start_http_server(
            int(port), addr=host.strip("[]"), registry=self.registry
        )
        return server
