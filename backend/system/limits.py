"""Limits before decoding for HTTP bodies: size, nesting depth and encoding, as for MQTT.

An ASGI middleware in front of every route: a body that is too large is answered 413, one
nested too deep or not UTF-8 is answered 400, each with a message saying which limit — before
any handler or decoder sees the bytes (a deeply nested body would otherwise stop msgspec with
``RecursionError``: a 500, even on the unauthenticated login). Raw uploads (``image/*``: the
register photos) are streamed by their handler, which bounds them itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from litestar.types import ASGIApp

from backend.metering.ingest.limits import check

MAX_BODY_BYTES = 1_048_576  # 1 MiB of JSON is far beyond any form of this API
MAX_BODY_DEPTH = 32
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key.lower() == name:
            return value
    return b""


async def _refuse(send: Any, status: int, detail: str) -> None:
    body = json.dumps({"status_code": status, "detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def problem(body: bytes, max_depth: int = MAX_BODY_DEPTH) -> str | None:
    """Why a complete (size-checked) body must not be decoded, or None."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"request body is not valid UTF-8 (byte {exc.start})"
    reason = check(body, max_bytes=len(body), max_depth=max_depth)
    return None if reason is None else reason.replace("json payload", "request body", 1)


def body_limits(app: ASGIApp) -> ASGIApp:
    """Wrap ``app``: bodies are read (at most ``MAX_BODY_BYTES``), checked, then replayed."""

    # ASGI messages are plain dicts here: litestar's TypedDicts do not narrow by scope type
    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await app(scope, receive, send)
            return
        headers = scope["headers"]
        if _header(headers, b"content-type").lower().startswith(b"image/"):
            await app(scope, receive, send)
            return
        too_large = f"request body is larger than the limit of {MAX_BODY_BYTES} bytes"
        declared = _header(headers, b"content-length")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _refuse(send, 413, too_large)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _refuse(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        reason = problem(body) if body else None
        if reason is not None:
            await _refuse(send, 400, reason)
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await app(scope, replay, send)

    return middleware
