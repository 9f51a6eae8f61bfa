"""What every controller shares: the one error answer, the clock, the field roles.

:func:`answer_error` is the API's only exception handler (registered in ``backend/app.py``): it
answers every :class:`backend.errors.ServiceError` and every litestar ``HTTPException`` with one
body, :class:`ErrorBody`, so a client reads ``code`` (and ``params``, ``field``) the same way
whichever layer refused the request.
"""

from __future__ import annotations

import re
import time
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.datastructures import ResponseSpec

from backend.auth.guards import ApiController
from backend.auth.models import Role
from backend.errors import (
    Conflict,
    ErrorCode,
    Invalid,
    NotFound,
    ServiceError,
    TooManyRequests,
    Unauthorised,
)
from backend.texts import Param

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


class ErrorBody(msgspec.Struct):
    """Every error answer of the API. ``code`` is stable (the PWA words it with ``params``);
    ``detail`` is English for logs; ``field`` names the part of the request at fault, and
    ``extra`` repeats it (with litestar's own validation details) for older clients."""

    status_code: int
    code: str
    detail: str
    field: str | None = None
    params: dict[str, Param] = msgspec.field(default_factory=dict)
    extra: list[dict[str, Any]] | msgspec.UnsetType = msgspec.UNSET


_BY_STATUS = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.UNAUTHENTICATED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    429: ErrorCode.TOO_MANY_REQUESTS,
}
_FIELD_IN_MESSAGE = re.compile(r"field `([^`]+)`")


def _service_body(exc: ServiceError) -> ErrorBody:
    body = ErrorBody(exc.status, exc.code.value, exc.detail, exc.field, dict(exc.params))
    if exc.field:
        body.extra = [{"key": exc.field, "message": exc.detail}]
    return body


def _validation_extra(exc: ValidationException) -> list[dict[str, Any]]:
    """litestar's details, with ``key`` naming the field itself even when msgspec reports it
    only in the message (a missing or unknown field)."""
    extra: list[dict[str, Any]] = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("key") == "data":
            found = _FIELD_IN_MESSAGE.search(str(item.get("message", "")))
            if found:
                item = {**item, "key": found.group(1)}
        extra.append(item)
    return extra


def _http_body(exc: HTTPException) -> ErrorBody:
    code = _BY_STATUS.get(exc.status_code, ErrorCode.HTTP)
    params: dict[str, Param] = {"status": exc.status_code} if code is ErrorCode.HTTP else {}
    body = ErrorBody(exc.status_code, code.value, exc.detail, None, params)
    if isinstance(exc, ValidationException):
        extra = _validation_extra(exc)
        if extra:
            body.extra = extra
            key = extra[0].get("key") if isinstance(extra[0], dict) else None
            body.field = str(key) if key else None
    elif exc.extra:
        body.extra = exc.extra if isinstance(exc.extra, list) else [exc.extra]
    return body


def answer_error(_: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """The one exception handler: a service error or a litestar HTTP error, as an ErrorBody."""
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceError):
        body = _service_body(exc)
        if isinstance(exc, Unauthorised):
            headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, TooManyRequests) and "retry_after" in exc.params:
            headers["Retry-After"] = str(exc.params["retry_after"])
    elif isinstance(exc, HTTPException):
        body = _http_body(exc)
        headers.update(exc.headers or {})
    else:  # only registered for the two above
        raise exc
    return Response(body, status_code=body.status_code, headers=headers)


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    ServiceError: answer_error,
    HTTPException: answer_error,
}


def answers(*errors: type[ServiceError]) -> dict[int, ResponseSpec]:
    """For a route's ``responses=``: the statuses these errors answer, with the ErrorBody
    schema, so the OpenAPI document (and schemathesis) know them."""
    return {
        e.status: ResponseSpec(
            data_container=ErrorBody,
            description=(e.__doc__ or e.__name__).split("\n")[0],
            generate_examples=False,
        )
        for e in errors
    }


class FieldApiController(ApiController):
    """Field and service-desk controllers: every handler documents the 400, 404 and 409 its
    service may answer (a meter named in the body can be "not found" as well as one in the
    path)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for value in vars(cls).values():
            if isinstance(value, HTTPRouteHandler):
                value.responses = {
                    **answers(Invalid, NotFound, Conflict),
                    **(value.responses or {}),
                }
