"""The API process's one MQTT session (a litestar lifespan hook and a startup hook).

Created first, when ingestion or command dispatch runs here (``app.state.mqtt``; None
otherwise); the capabilities' own lifespans add their routes to it; ``start_mqtt`` connects it
once the application has started — after every route is in place, so a resumed session's
queue finds its consumers. Closed last: every consumer has paused it, committed and
acknowledged what it held by then, so the final PUBACKs leave before DISCONNECT.

The client id: ``meterline-api-{host}-{hash}`` where ingestion runs (or
``METERLINE_MQTT_CLIENT_ID``); ``…-commands`` in a process that only dispatches commands, so
that session never resumes a queue of readings it would not ingest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar

from backend.mqtt.session import MqttSession, default_client_id, receive_maximum
from backend.settings import Settings


@asynccontextmanager
async def mqtt_lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    session: MqttSession | None = None
    if settings.ingest or settings.runs_command_dispatch:
        client_id = default_client_id(settings, "api")
        if not settings.ingest:
            client_id += "-commands"
        session = MqttSession(settings.mqtt, client_id, receive_maximum=receive_maximum(settings))
    app.state.mqtt = session
    try:
        yield
    finally:
        if session is not None:
            session.pause()  # in case no consumer did: nothing more is read
            await session.close()


def start_mqtt(app: Litestar) -> None:
    """Connect the session (an on_startup hook: every lifespan has added its route)."""
    session: MqttSession | None = app.state.get("mqtt")
    if session is not None:
        session.start()
