"""Service-level errors and how the API answers them.

Services raise these (they know nothing of HTTP); the app maps them to the same JSON shape as
litestar's own errors: ``{"status_code": 404, "detail": "meter 7 not found"}``, and for a bad
field ``{"status_code": 400, "detail": "...", "extra": [{"key": "to", "message": "..."}]}``.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
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


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {NotFound: _not_found, InvalidRequest: _invalid}
