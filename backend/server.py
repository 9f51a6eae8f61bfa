"""Run the API under uvicorn inside an existing event loop (serve and demo share it)."""

from __future__ import annotations

import uvicorn

from backend.app import create_app
from backend.settings import Settings


def make_server(settings: Settings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        proxy_headers=True,
        forwarded_allow_ips=settings.http_trusted_proxies,  # X-Forwarded-* from these only
    )
    return uvicorn.Server(config)


async def serve(settings: Settings) -> None:
    await make_server(settings).serve()
