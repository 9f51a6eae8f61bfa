"""Metering inside the API process (a litestar lifespan hook): the derived-data path, and
ingestion (``METERLINE_INGEST=true``) on the process's MQTT session.

The path is built here, once, with the followers the application hands it (billing), and kept
in ``app.state.derived`` for whoever else commits readings in this process (field readings).
Ingestion announces to it after every committed batch.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from litestar import Litestar

from backend.metering.derived import DerivedData, Follower
from backend.metering.ingest.service import Ingestor
from backend.settings import Settings


def metering_lifespan(
    followers: Sequence[Follower] = (),
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """``followers`` run after consumption for every announcement, in this order."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        settings: Settings = app.state.settings
        derived = DerivedData(app.state.sessions, settings.timezone, followers)
        app.state.derived = derived
        derived.start()
        ingestor: Ingestor | None = None
        if settings.ingest:
            ingestor = Ingestor(
                settings, role="api", mqtt=app.state.mqtt, after_commit=(derived.announce,)
            )
            app.state.ingestor = ingestor
            derived.behind = ingestor.is_behind  # a backlog's batches gather into one round
            app.state.mqtt_status = lambda: ingestor.status  # /health reports "connected"
            await ingestor.start()
        try:
            yield
        finally:
            if ingestor is not None:
                await ingestor.stop()
            await derived.stop()  # ingestion stopped first: its last batches count too

    return lifespan
