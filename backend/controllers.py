"""What every field and service-desk controller shares: error answers, the clock, roles."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.handlers import HTTPRouteHandler

from backend.auth.guards import ApiController
from backend.auth.models import Role
from backend.field.errors import FieldError

# who does what in the field (the guards are deny-by-default; these are the allow lists)
READERS = (Role.INSPECTOR, Role.SUPERVISOR)  # may read meters and submit readings
FIELD_VIEW = (Role.INSPECTOR, Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN)  # scoped by grid
REVIEWERS = (Role.SUPERVISOR,)  # approve corrections, resolve flags
OVERSEERS = (Role.SUPERVISOR, Role.OPERATOR, Role.ADMIN)  # 95598 supervises tracks (R5)
PLANNERS = (Role.SUPERVISOR, Role.ADMIN)  # make books, schedule inspections


def now_ms(state: State) -> int:
    """The server's clock; tests may pin it with ``app.state.clock`` (seconds, like time.time)."""
    clock = state.get("clock") or time.time
    return int(clock() * 1000)


def field_error(_: Request[Any, Any, Any], exc: FieldError) -> Response[dict[str, Any]]:
    """Same shape as the rest of the API: status_code, detail, and the field in ``extra``."""
    body: dict[str, Any] = {"status_code": exc.status, "detail": exc.message}
    if exc.field:
        body["extra"] = [{"key": exc.field, "message": exc.message}]
    return Response(body, status_code=exc.status)


class ConflictAnswer(HTTPException):
    """For the OpenAPI schema: the 409 a resend with another body (or a taken key) gets."""

    status_code = 409
    detail = "conflict"


class TooLargeAnswer(HTTPException):
    status_code = 413
    detail = "request entity too large"


class UnsupportedMediaAnswer(HTTPException):
    status_code = 415
    detail = "unsupported media type"


class FieldApiController(ApiController):
    """Field and service-desk controllers: FieldError answers in the API's shape, and every
    handler documents the 400, 404 and 409 its service may answer (a meter named in the body
    can be "not found" as well as one in the path)."""

    exception_handlers = {FieldError: field_error}  # noqa: RUF012 - litestar reads this

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for value in vars(cls).values():
            if isinstance(value, HTTPRouteHandler):
                have = list(value.raises or [])
                extra = [ValidationException, NotFoundException, ConflictAnswer]
                value.raises = [*have, *(e for e in extra if e not in have)]
