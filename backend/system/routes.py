"""Health and version: unauthenticated, for load balancers and the demo's first check."""

from __future__ import annotations

import msgspec
from litestar import Controller, get
from litestar.datastructures import State
from litestar.status_codes import HTTP_200_OK
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from backend import __version__


class Health(msgspec.Struct):
    status: str  # "ok" or "degraded"
    version: str
    database: str
    mqtt: str
    # this process runs the single-leader work now (backend.system.leader); None: none of it
    # is switched on here
    leader: bool | None = None


class SystemController(Controller):
    path = "/"
    tags = ("system",)

    @get(
        "/health", status_code=HTTP_200_OK, summary="Liveness and readiness", exclude_from_auth=True
    )
    async def health(self, state: State) -> Health:
        engine: AsyncEngine = state.engine
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            database = "ok"
        except Exception as exc:  # reported, not raised: health must answer
            database = f"error: {type(exc).__name__}"
        mqtt_status = state.get("mqtt_status")
        mqtt = mqtt_status() if callable(mqtt_status) else "disabled"
        ok = database == "ok" and mqtt in ("connected", "disabled")
        leader = state.get("leader")
        return Health(
            status="ok" if ok else "degraded", version=__version__, database=database, mqtt=mqtt,
            leader=None if leader is None else leader.held,
        )  # fmt: skip
