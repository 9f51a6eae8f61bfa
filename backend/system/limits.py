"""Limits before decoding for HTTP bodies: size, nesting depth and encoding, as for MQTT.

An ASGI middleware in front of every route: a body that is too large is answered 413, one
nested too deep or not UTF-8 is answered 400, each with the error family's body (a code naming
the limit, ``backend.errors``; the English ``detail`` says which and by how much) — before
any handler or decoder sees the bytes (a deeply nested body would otherwise stop msgspec with
``RecursionError``: a 500, even on the unauthenticated login). Raw uploads (``image/*``: the
register photos; ``application/pdf``: documents of key accounts) are streamed by their
handler, which bounds them itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from litestar.types import ASGIApp

from backend.controllers import ErrorBody
from backend.errors import ErrorCode as E
from backend.errors import Invalid, ServiceError, TooLarge
from backend.metering.ingest.limits import check

MAX_BODY_BYTES = 1_048_576  # 1 MiB of JSON is far beyond any form of this API
MAX_BODY_DEPTH = 32
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


def _header(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> bytes:
    for key, value in headers:
        if key.lower() == name:
            return value
    return b""


async def _refuse(send: Any, error: ServiceError) -> None:
    body = msgspec.json.encode(
        ErrorBody(error.status, error.code.value, error.detail, None, dict(error.params))
    )
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def problem(
    body: bytes, max_depth: int = MAX_BODY_DEPTH, *, text: bool = True
) -> ServiceError | None:
    """Why a complete (size-checked) body must not be decoded, or None. Only a text body must
    be UTF-8; the nesting depth is checked whatever the declared type, since a JSON route
    decodes what it is sent."""
    if text:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Invalid(
                E.BODY_NOT_UTF8,
                f"request body is not valid UTF-8 (byte {exc.start})",
                byte=exc.start,
            )
    reason = check(body, max_bytes=len(body), max_depth=max_depth)  # the size is checked
    if reason is None:
        return None
    detail = reason.replace("json payload", "request body", 1)
    return Invalid(E.BODY_TOO_DEEP, detail, limit=max_depth)


def _is_text(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """A body declared as text (JSON, forms, text; or undeclared): only those must be UTF-8.
    Another binary upload (a PDF, say) is refused by its route, by its type."""
    kind = _header(headers, b"content-type").lower().split(b";", 1)[0].strip()
    return (
        not kind
        or kind.startswith(b"text/")
        or kind in (b"application/json", b"application/x-www-form-urlencoded")
        or kind.endswith(b"+json")
    )


def _too_large() -> TooLarge:
    return TooLarge(
        E.BODY_TOO_LARGE,
        f"request body is larger than the limit of {MAX_BODY_BYTES} bytes",
        limit_bytes=MAX_BODY_BYTES,
    )


def body_limits(app: ASGIApp) -> ASGIApp:
    """Wrap ``app``: bodies are read (at most ``MAX_BODY_BYTES``), checked, then replayed."""

    # ASGI messages are plain dicts here: litestar's TypedDicts do not narrow by scope type
    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await app(scope, receive, send)
            return
        headers = scope["headers"]
        # raw uploads bound by their handler: photos, key-account documents (PDF)
        if _header(headers, b"content-type").lower().startswith((b"image/", b"application/pdf")):
            await app(scope, receive, send)
            return
        declared = _header(headers, b"content-length")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            await _refuse(send, _too_large())
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
                await _refuse(send, _too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        reason = problem(body, text=_is_text(headers)) if body else None
        if reason is not None:
            await _refuse(send, reason)
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
