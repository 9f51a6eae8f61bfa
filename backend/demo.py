"""``meterline demo``: the whole system on its embedded defaults, from one command.

SQLite (WAL) in the data directory with migrations applied, a loopback MQTT broker, the API
with ingestion, and (as the edge agent lands) the agent with simulated meters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from backend import migrate
from backend.broker import embedded_broker, free_port
from backend.server import make_server
from backend.settings import Settings

log = logging.getLogger("meterline.demo")


async def run_demo(settings: Settings, *, prefer_mosquitto: bool = True) -> None:
    migrate.upgrade(settings.database_url)
    endpoint = settings.mqtt
    port = endpoint.port if endpoint.host in ("127.0.0.1", "localhost") else free_port()
    async with embedded_broker(port, prefer_mosquitto=prefer_mosquitto) as broker:
        settings.mqtt_url = f"mqtt://127.0.0.1:{port}"
        server = make_server(settings)
        task = asyncio.create_task(server.serve(), name="http")
        while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.05)
        url = f"http://{settings.http_host}:{settings.http_port}/"
        print(f"meterline demo is running: open {url}", flush=True)
        print(f"  API docs: {url}schema   health: {url}health   broker: {broker}", flush=True)
        print("  Ctrl-C stops it.", flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await task
