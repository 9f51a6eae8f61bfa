"""``meterline ingest``: ingestion as its own process, for scale-out behind a shared
subscription (``METERLINE_MQTT_SHARE_GROUP``). SIGTERM or SIGINT stops it cleanly: the batch in
hand is committed and acknowledged before the MQTT session is closed.

Like ``meterline serve``, it follows what it commits on metering's derived-data path —
consumption, then the followers the command line hands it (billing) — so that the derived work
is shared by the ingest processes as the stream is. A process that stops (or dies) between a
commit and its derived work leaves it to the leader's catch-up, as in the API process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Callable, Sequence

from backend import heap
from backend.cliargs import SubParsers
from backend.db import create_engine, session_factory
from backend.metering.derived import DerivedData, Follower
from backend.metering.ingest.service import Ingestor
from backend.settings import Settings, load_settings

log = logging.getLogger("meterline.ingest")


async def run_ingest(
    settings: Settings, *, leave: bool = False, followers: Sequence[Follower] = ()
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings.database_url)
    derived = DerivedData(session_factory(engine), settings.timezone, followers)
    try:
        return await _ingest(settings, stop, derived, leave=leave)
    finally:
        await engine.dispose()


async def _ingest(
    settings: Settings, stop: asyncio.Event, derived: DerivedData, *, leave: bool
) -> int:
    ingestor = Ingestor(settings, role="ingest", leave=leave, after_commit=(derived.announce,))
    derived.behind = ingestor.is_behind  # a backlog's batches gather into one round
    derived.start()
    try:
        return await _run(settings, stop, ingestor, leave=leave)
    finally:
        await derived.stop()  # after ingestion: its last batches count too


async def _run(settings: Settings, stop: asyncio.Event, ingestor: Ingestor, *, leave: bool) -> int:
    if leave:
        log.info(
            "draining the broker's queue for %s, then deleting its session", ingestor.client_id
        )
        await ingestor.start()
        await ingestor.drain_and_leave()
        return 0
    endpoint = settings.mqtt
    log.info(
        "ingesting from %s:%d as %s%s",
        endpoint.host,
        endpoint.port,
        ingestor.client_id,
        f" in shared group {settings.mqtt_share_group!r}" if settings.mqtt_share_group else "",
    )
    await ingestor.start()
    await stop.wait()
    log.info("stopping: committing and acknowledging what was received")
    await ingestor.stop()
    return 0


def _cmd_ingest(args: argparse.Namespace) -> int:
    settings = load_settings(file=args.settings, data_dir=args.data_dir)
    if args.migrate:
        from backend import migrate

        migrate.upgrade(settings.database_url)
    followers = args.followers(settings)
    heap.settle()
    return asyncio.run(run_ingest(settings, leave=args.leave, followers=followers))


def register(sub: SubParsers, followers: Callable[[Settings], list[Follower]]) -> None:
    """``followers``: what follows consumption in this process, by its settings (the
    application's ``derived_followers``, handed down by the command line's builder)."""
    sp = sub.add_parser(
        "ingest",
        help="run ingestion, with consumption and billing of what it commits, without the HTTP"
        " API (scale out with METERLINE_MQTT_SHARE_GROUP)",
    )
    sp.add_argument("--data-dir", help="data directory (METERLINE_DATA_DIR)")
    sp.add_argument("--migrate", action="store_true", help="apply migrations first")
    sp.add_argument(
        "--leave",
        action="store_true",
        help="retire this client id: commit what the broker queued for it, then delete its"
        " session (scaling a shared group down)",
    )
    sp.set_defaults(func=_cmd_ingest, followers=followers)
