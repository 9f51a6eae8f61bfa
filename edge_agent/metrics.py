"""Prometheus metrics of the agent, in its own registry (nothing global, one per agent).

The list with meanings is in docs/edge-agent.md ("Monitoring").
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


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
        self.polling_paused = Gauge(
            p + "polling_paused", "1 while the full outbox (stop_polling) pauses polls", registry=r
        )
        self.commands = Counter(
            p + "commands", "Command acknowledgements by state", ["state"], registry=r
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
        self.clock_corrections = Counter(
            p + "clock_corrections", "Broadcast time corrections sent", ["bus"], registry=r
        )

    def serve(self, listen: str) -> object:
        host, _, port = listen.rpartition(":")
        server, _thread = start_http_server(
            int(port), addr=host.strip("[]"), registry=self.registry
        )
        return server
