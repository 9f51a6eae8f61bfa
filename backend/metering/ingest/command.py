"""``meterline ingest``: ingestion as its own process, for scale-out behind a shared
subscription (``METERLINE_MQTT_SHARE_GROUP``). SIGTERM or SIGINT stops it cleanly: the batch in
hand is committed and acknowledged before the MQTT session is closed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from backend.cliargs import SubParsers
from backend.metering.ingest.service import Ingestor
from backend.settings import Settings, load_settings

log = logging.getLogger("meterline.ingest")


async def run_ingest(settings: Settings, *, leave: bool = False) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    ingestor = Ingestor(settings, role="ingest", leave=leave)
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
    return asyncio.run(run_ingest(settings, leave=args.leave))


def register(sub: SubParsers) -> None:
    sp = sub.add_parser(
        "ingest", help="run ingestion alone (scale out with METERLINE_MQTT_SHARE_GROUP)"
    )
    sp.add_argument("--data-dir", help="data directory (METERLINE_DATA_DIR)")
    sp.add_argument("--migrate", action="store_true", help="apply migrations first")
    sp.add_argument(
        "--leave",
        action="store_true",
        help="retire this client id: commit what the broker queued for it, then delete its"
        " session (scaling a shared group down)",
    )
    sp.set_defaults(func=_cmd_ingest)
