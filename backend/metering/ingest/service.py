"""The ingestion service: its route on the MQTT session, the batching writer and their
housekeeping.

Runs inside the API process (a lifespan hook; the process's one MQTT session is shared with
command dispatch) or alone (``meterline ingest``, with a session of its own). Shutdown order is
what makes it lossless: stop reading, commit what was read, acknowledge it, then disconnect;
whatever was not read stays with the broker for the next process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import or_, update
from sqlalchemy.engine import make_url

from backend.db import create_engine, is_sqlite
from backend.metering import partitions
from backend.metering.ingest.inbox import Item, classify
from backend.metering.ingest.postgres_store import PostgresStore
from backend.metering.ingest.sqlite_store import SqliteStore
from backend.metering.ingest.stats import IngestStats
from backend.metering.ingest.store import Store
from backend.metering.ingest.writer import AfterCommit, Writer
from backend.metering.models import Meter
from backend.metering.quarantine.rules import limits_of
from backend.mqtt import Link, MqttSession, Route, default_client_id
from backend.mqtt.session import receive_maximum
from backend.settings import Settings
from protocols.contract import Channel, subscription

log = logging.getLogger("meterline.ingest")

PARTITIONS_EVERY_S = 24 * 3600.0


def filters(share_group: str | None) -> tuple[list[str], list[str]]:
    """(filters to subscribe, plain filters to drop from a persistent session).

    ``readings`` and ``events`` go through ``$share/{group}/…`` when a share group is set (the
    broker splits the stream between the processes of the group), plain otherwise. ``state``
    is always a plain subscription: agent births and deaths are few, every process may apply
    them (they are idempotent), and MQTT 5 does not send retained messages to a new shared
    subscription — a plain one gets the retained state of every agent on each (re)subscribe.
    """
    group = share_group or None
    wanted = [
        subscription(Channel.READINGS, share_group=group),
        subscription(Channel.EVENTS, share_group=group),
        subscription(Channel.STATE),
    ]
    # A session that once subscribed without the group would get every message twice.
    stale = [subscription(Channel.READINGS), subscription(Channel.EVENTS)] if group else []
    return wanted, stale


def open_store(database_url: str, *, offline_after_s: int) -> Store:
    """The batch writer for this database: SQLite or PostgreSQL."""
    if is_sqlite(database_url):
        return SqliteStore(make_url(database_url).database or ":memory:", offline_after_s)
    url = make_url(database_url).set(drivername="postgresql")
    return PostgresStore(url.render_as_string(hide_password=False), offline_after_s)


class Ingestor:
    def __init__(
        self,
        settings: Settings,
        *,
        role: Literal["api", "ingest"] = "ingest",
        client_id: str | None = None,
        mqtt: MqttSession | None = None,
        after_commit: Sequence[AfterCommit] = (),
        stats_every_s: float = 60.0,
        housekeeping_every_s: float = 60.0,
        leave: bool = False,
    ) -> None:
        """``mqtt``: the process's shared MQTT session (started by its owner once every route
        is added); without one, ingestion runs a session of its own. ``after_commit``: told
        after each committed batch (the derived-data path's ``announce``)."""
        self.settings = settings
        self._own_mqtt = mqtt is None
        if mqtt is None:
            mqtt = MqttSession(
                settings.mqtt,
                client_id or default_client_id(settings, role),
                receive_maximum=receive_maximum(settings),
                leave=leave,
            )
        self.mqtt = mqtt
        self.client_id = mqtt.client_id
        self._stats = IngestStats()
        self.store = open_store(
            settings.database_url, offline_after_s=settings.ingest_offline_after_s
        )
        self.writer = Writer(
            self.store,
            batch_size=settings.ingest_batch_size,
            batch_ms=settings.ingest_batch_ms,
            stats=self._stats,
            hooks=after_commit,
            limits=limits_of(settings),
        )
        wanted, stale = filters(settings.mqtt_share_group or None)
        if leave:  # a retired API process's session may hold command acks too: drop them
            group = settings.mqtt_share_group or None
            stale += [subscription(Channel.ACKS), subscription(Channel.ACKS, share_group=group)]
        mqtt.add_route(
            Route(
                channels=frozenset({Channel.READINGS, Channel.EVENTS, Channel.STATE}),
                filters=wanted,
                stale=stale,
                on_message=self._received,
                on_connected=self._connected,
                takes_the_rest=True,  # a message on a channel not ingested is a dead letter
            )
        )
        self.writer.throttle = mqtt.throttle
        self._stats_every_s = stats_every_s
        self._housekeeping_every_s = housekeeping_every_s
        self._tasks: list[asyncio.Task[None]] = []

    # --- state for /health and the API --------------------------------------------------

    @property
    def status(self) -> str:
        """connecting, connected, disconnected or stopped."""
        return self.mqtt.status

    @property
    def counters(self) -> IngestStats:
        """The live counters (cheap to read; ``stats()`` adds percentiles and state)."""
        return self._stats

    def is_behind(self) -> bool:
        """Whether ingestion is draining a backlog: its last batch left messages waiting (the
        derived-data path holds its round for them: ``DerivedData.behind``)."""
        return self.writer.behind

    def stats(self) -> dict[str, Any]:
        out = self._stats.snapshot()
        out["sessions_lost"] = self.mqtt.sessions_lost
        out["backlog"] = self.writer.backlog
        out["mqtt"] = self.status
        return out

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        if self._tasks:
            return
        spawn = asyncio.get_running_loop().create_task
        self._tasks = [
            spawn(self.writer.run(), name="ingest-writer"),
            spawn(self._housekeeping(), name="ingest-housekeeping"),
            spawn(self._log_stats(), name="ingest-stats"),
        ]
        if self._own_mqtt:
            self.mqtt.start()

    async def stop(self, timeout_s: float = 30.0) -> None:
        """Stop reading, commit and acknowledge what was read; disconnect a session of our
        own (a shared one is closed by its owner, after every consumer has stopped)."""
        if not self._tasks:
            return
        others = self._tasks[1:]  # housekeeping and stats: nothing to finish
        self.mqtt.pause()
        await self.writer.close(timeout_s)
        if self._own_mqtt:
            await self.mqtt.close()
        for task in others:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        self._tasks = []
        await self.store.close()
        log.info("ingestion stopped: %s", self._summary())

    async def drain_and_leave(self, quiet_s: float = 2.0) -> None:
        """Retire this client id for good (``leave=True``): commit whatever the broker had
        queued for its session, stop once nothing has arrived for ``quiet_s``, then delete the
        session, so that a shared group stops routing messages to a member that will never
        come back."""
        await self.mqtt.connected.wait()
        loop = asyncio.get_running_loop()
        while True:
            last = max(self.writer.last_arrival, self.mqtt.connected_at)
            quiet = loop.time() - last
            if quiet >= quiet_s and self.writer.idle.is_set() and not self.writer.backlog:
                break
            await asyncio.sleep(max(0.05, quiet_s - quiet))
        await self.stop()
        await self.mqtt.end_session()

    async def __aenter__(self) -> Ingestor:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    # --- MQTT callbacks (on the event loop) -----------------------------------------------

    def _received(
        self, link: Link, topic: str | None, payload: bytes, mid: int, qos: int, at: float
    ) -> None:
        item = Item(topic or "", payload, link=link, mid=mid, qos=qos, received=at)
        if topic is None:
            item.reason = "topic is not valid UTF-8"
        else:
            classify(item)
        self.writer.offer(item)

    def _connected(self, link: Link) -> None:
        self.writer.window = link.receive_maximum if link.v5 else None

    # --- housekeeping -------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        engine = create_engine(self.settings.database_url, **self._pool_args())
        next_partitions = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    if loop.time() >= next_partitions:
                        async with engine.connect() as conn:
                            made = await partitions.ensure_reading_partitions(conn)
                        if made:
                            log.info("created reading partitions %s", ", ".join(made))
                        next_partitions = loop.time() + PARTITIONS_EVERY_S
                    await self.mark_offline(engine)
                except Exception as exc:  # the database may be down: try again next round
                    log.warning("ingest housekeeping failed: %s: %s", type(exc).__name__, exc)
                await asyncio.sleep(self._housekeeping_every_s)
        finally:
            await engine.dispose()

    def _pool_args(self) -> dict[str, Any]:
        return {} if self.settings.database_url.startswith("sqlite") else {"pool_size": 1}

    async def mark_offline(self, engine: Any, now: datetime | None = None) -> int:
        """Meters not heard from within ``ingest_offline_after_s`` go offline."""
        now = now or datetime.now(UTC)
        cutoff = now - timedelta(seconds=self.settings.ingest_offline_after_s)
        async with engine.begin() as conn:
            result = await conn.execute(
                update(Meter)
                .where(
                    Meter.online.is_(True),
                    or_(Meter.last_seen_at.is_(None), Meter.last_seen_at < cutoff),
                )
                .values(online=False)
            )
        if result.rowcount:
            log.info("%d meters not heard from since %s marked offline", result.rowcount, cutoff)
        return int(result.rowcount)

    async def _log_stats(self) -> None:
        last: dict[str, Any] = {}
        while True:
            await asyncio.sleep(self._stats_every_s)
            now = self._stats.snapshot()
            if now != last:
                log.info("ingest: %s", self._summary())
                last = now

    def _summary(self) -> str:
        s = self.stats()
        return (
            f"{s['messages']} messages, {s['accepted']} readings stored, {s['duplicates']}"
            f" duplicates, {s['dead_letters']} dead letters, {s['gaps']} gaps,"
            f" commit p50 {s['commit_p50_ms']} ms p99 {s['commit_p99_ms']} ms,"
            f" receipt→commit p99 {s['latency_p99_ms']} ms, mqtt {s['mqtt']}"
        )
