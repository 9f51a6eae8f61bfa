"""The one error answer: every service error and every litestar HTTP error, one JSON body."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from litestar import get, post
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.params import JSONBody
from litestar.testing import create_test_client

from backend.controllers import EXCEPTION_HANDLERS, answers
from backend.errors import (
    FAMILY,
    Conflict,
    ErrorCode,
    Forbidden,
    Invalid,
    NotAllowed,
    NotFound,
    ServiceError,
    TooLarge,
    Unauthorised,
    Unprocessable,
    UnsupportedMedia,
)

CASES: list[tuple[ServiceError, int]] = [
    (Invalid(ErrorCode.END_BEFORE_START, "must be after from", field="to", start="from"), 400),
    (Unauthorised(ErrorCode.WRONG_CREDENTIALS, "wrong username or password"), 401),
    (Forbidden(ErrorCode.OWN_CORRECTION, "you submitted it", correction="c-1"), 403),
    (
        NotFound(ErrorCode.METER_NOT_FOUND, "meter 'M1' not found", field="meter_id", meter="M1"),
        404,
    ),
    (NotAllowed(ErrorCode.READING_IMMUTABLE, "confirmed", reading="r-1"), 405),
    (Conflict(ErrorCode.FLAG_RESOLVED, "flag 7 is already resolved", flag=7), 409),
    (TooLarge(ErrorCode.PHOTO_TOO_LARGE, "too big", field="photo", size=9, limit=8), 413),
    (UnsupportedMedia(ErrorCode.PHOTO_NOT_AN_IMAGE, "not an image", field="photo"), 415),
    (Unprocessable(ErrorCode.IDEMPOTENCY_KEY_REUSED, "key reused"), 422),
]


def _answer(exc: Exception, path: str = "/boom") -> Any:
    @get(path, sync_to_thread=False)
    def boom() -> None:
        raise exc

    with create_test_client([boom], exception_handlers=EXCEPTION_HANDLERS) as client:
        return client.get(path)


@pytest.mark.parametrize(("exc", "status"), CASES, ids=lambda c: type(c).__name__)
def test_each_service_error_is_answered_with_its_status_code_field_and_params(
    exc: ServiceError, status: int
) -> None:
    r = _answer(exc)
    assert r.status_code == status
    body = r.json()
    assert body["status_code"] == status
    assert body["code"] == exc.code.value
    assert body["detail"] == exc.detail
    assert body["field"] == exc.field
    assert body["params"] == exc.params
    if exc.field:
        assert body["extra"] == [{"key": exc.field, "message": exc.detail}]
    else:
        assert "extra" not in body


def test_every_class_of_the_family_has_a_case_here() -> None:
    assert {type(e) for e, _ in CASES} == set(FAMILY)


def test_a_refused_login_asks_for_a_bearer_token() -> None:
    r = _answer(Unauthorised(ErrorCode.REFRESH_TOKEN_EXPIRED, "refresh token expired"))
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (NotAuthorizedException("no token", headers={"WWW-Authenticate": "Bearer"}), 401,
         "error.unauthenticated"),
        (PermissionDeniedException("role customer may not do this"), 403, "error.forbidden"),
        (HTTPException(status_code=429, detail="slow down"), 429, "error.too_many_requests"),
        (HTTPException(status_code=418, detail="teapot"), 418, "error.http"),
    ],
)  # fmt: skip
def test_litestars_own_errors_get_the_same_body_with_a_code(
    exc: HTTPException, status: int, code: str
) -> None:
    r = _answer(exc)
    assert r.status_code == status
    assert r.json()["code"] == code
    assert r.json()["detail"] == exc.detail
    assert r.json()["params"] == ({"status": 418} if code == "error.http" else {})
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"


def test_an_unknown_route_is_a_not_found_with_a_code() -> None:
    with create_test_client([], exception_handlers=EXCEPTION_HANDLERS) as client:
        r = client.get("/elsewhere")
    assert (r.status_code, r.json()["code"]) == (404, "error.not_found")


class Body(msgspec.Struct, forbid_unknown_fields=True):
    name: str


def test_a_bad_body_names_the_field_even_when_msgspec_says_it_only_in_words() -> None:
    @post("/thing", sync_to_thread=False)
    def thing(data: JSONBody[Body]) -> None:
        return None

    with create_test_client([thing], exception_handlers=EXCEPTION_HANDLERS) as client:
        r = client.post("/thing", json={"name": "x", "colour": "red"})
    assert r.status_code == 400
    body = r.json()
    assert (body["code"], body["field"]) == ("error.invalid_request", "colour")
    assert body["extra"][0]["key"] == "colour"


def test_a_validation_error_raised_by_hand_keeps_its_details() -> None:
    exc = ValidationException(
        "unknown query parameter(s): x", extra=[{"key": "x", "source": "query"}]
    )
    body = _answer(exc).json()
    assert (body["code"], body["field"], body["extra"]) == (
        "error.invalid_request", "x", [{"key": "x", "source": "query"}],
    )  # fmt: skip


def test_routes_document_their_errors_with_the_error_body() -> None:
    spec = answers(Conflict, Unprocessable)
    assert sorted(spec) == [409, 422]
    assert all(s.data_container.__name__ == "ErrorBody" for s in spec.values())
