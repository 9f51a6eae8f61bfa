"""Ingestion inside the API process: a litestar lifespan hook (``METERLINE_INGEST=true``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from backend.metering.ingest.service import Ingestor
from backend.settings import Settings


@asynccontextmanager
async def ingest_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if not settings.ingest:
        yield
        return
    ingestor = Ingestor(settings, role="api")
    app.state.ingestor = ingestor
    app.state.mqtt_status = lambda: ingestor.status  # /health reports "connected"
    await ingestor.start()
    try:
        yield
    finally:
        await ingestor.stop()
