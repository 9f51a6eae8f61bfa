"""Service-level errors and how the API answers them.

Services raise these (they know nothing of HTTP); the app maps them to the same JSON shape as
litestar's own errors: ``{"status_code": 404, "detail": "meter 7 not found"}``, and for a bad
field ``{"status_code": 400, "detail": "...", "extra": [{"key": "to", "message": "..."}]}``.
"""

from __future__ import annotations

import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_404_NOT_FOUND


class NotFound(LookupError):
    """No such object *for this caller*: absent, or outside their scope. Answered 404, never 403,
    so a caller cannot tell another customer's object from a missing one."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found")


class InvalidRequest(ValueError):
    """A request that parses but makes no sense; ``field`` names the culprit. Answered 400."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _not_found(_: Request[Any, Any, Any], exc: NotFound) -> Response[dict[str, Any]]:
    return Response({"status_code": 404, "detail": str(exc)}, status_code=HTTP_404_NOT_FOUND)


def _invalid(_: Request[Any, Any, Any], exc: InvalidRequest) -> Response[dict[str, Any]]:
    body = {
        "status_code": 400,
        "detail": str(exc),
        "extra": [{"key": exc.field, "message": exc.message}],
    }
    return Response(body, status_code=HTTP_400_BAD_REQUEST)


_FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`")


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[dict[str, Any]]:
    """litestar's 400 for a bad body or parameter, with ``key`` naming the field itself even
    when msgspec reports it only in the message (a missing or unknown field)."""
    extra: list[Any] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("key") == "data":
            found = _FIELD_IN_MESSAGE.search(str(item.get("message", "")))
            if found:
                item = {**item, "key": found.group(1)}
        extra.append(item)
    body: dict[str, Any] = {"status_code": exc.status_code, "detail": exc.detail}
    if extra:
        body["extra"] = extra
    return Response(body, status_code=exc.status_code)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {
    NotFound: _not_found,
    InvalidRequest: _invalid,
    ValidationException: _validation,
}
