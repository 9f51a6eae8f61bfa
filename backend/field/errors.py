"""Errors the field services raise: each names what is wrong and, where it helps, the field.

Services know nothing of HTTP; the routes map ``status`` onto the response. A caller asking for
something outside its grid gets ``NotFound``, exactly as if it did not exist.
"""

from __future__ import annotations


class FieldError(Exception):
    status = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(FieldError):
    status = 404


class Forbidden(FieldError):
    status = 403


class Conflict(FieldError):
    status = 409


class Invalid(FieldError):
    """Well-formed but unacceptable (400, like the rest of the API's InvalidRequest)."""

    status = 400


class TooLarge(FieldError):
    status = 413


class UnsupportedMedia(FieldError):
    status = 415
