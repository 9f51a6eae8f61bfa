"""HTTP answers that litestar has no class for, so routes can raise and declare them
(``raises=[Conflict]`` puts the status in the OpenAPI schema)."""

from __future__ import annotations

from litestar.exceptions import ClientException
from litestar.status_codes import HTTP_409_CONFLICT, HTTP_422_UNPROCESSABLE_ENTITY


class Conflict(ClientException):
    """409: the request clashes with the object's current state (retry or choose otherwise)."""

    status_code = HTTP_409_CONFLICT


class Unprocessable(ClientException):
    """422: well-formed, but cannot be done as asked (e.g. an idempotency key reused)."""

    status_code = HTTP_422_UNPROCESSABLE_ENTITY
