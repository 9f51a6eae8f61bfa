"""Serve the built PWA (pwa/dist) from the API process: one origin, no CORS, works offline.

Hashed assets are cached forever; index.html, the service worker and the manifest are always
revalidated so an update reaches phones on the next start. Any other path that is not a file
gets index.html (client-side routes), except under /api, which stays a JSON 404, and under
/assets: a hashed file that is not there (a page built before the last deploy asking for its old
chunk) is a 404, not the app shell served as a script the browser cannot run.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Annotated

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.handlers import HTTPRouteHandler
from litestar.params import PathParameter

DIST = Path(__file__).resolve().parents[2] / "pwa" / "dist"
_NO_CACHE = {"index.html", "sw.js", "manifest.webmanifest", "registerSW.js"}
_RESERVED = ("api/", "schema", "health")
mimetypes.add_type("application/manifest+json", ".webmanifest")


def pwa_handler(dist: Path = DIST) -> HTTPRouteHandler:
    root = dist.resolve()

    @get(
        ["/", "/{path:path}"], include_in_schema=False, exclude_from_auth=True, sync_to_thread=False
    )
    def serve_pwa(path: Annotated[str, PathParameter()] = "") -> Response[bytes]:
        """``path`` is the path's own (at "/" there is none: index.html), never a query's."""
        rel = path.lstrip("/")
        if rel.startswith(_RESERVED):
            raise NotFoundException(f"no such endpoint: /{rel}")
        target = (root / rel).resolve() if rel else root / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            if rel.startswith("assets/"):
                raise NotFoundException(f"no such file: /{rel}")
            target = root / "index.html"
        if not target.is_file():
            raise NotFoundException("the PWA is not built: run `npm run build` in pwa/")
        cache = (
            "no-cache"
            if target.name in _NO_CACHE or target.suffix == ".html"
            else "public, max-age=31536000, immutable"
            if "/assets/" in target.as_posix()
            else "public, max-age=3600"
        )
        media_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return Response(
            target.read_bytes(),
            media_type=media_type,
            headers={"cache-control": cache, "x-content-type-options": "nosniff"},
        )

    return serve_pwa
