"""TOTP second factor: enrolment (secret shown once, confirmed by a code), the login code step,
one-time codes and recovery codes, and — with METERLINE_AUTH_REQUIRE_TOTP — operators, who can
order disconnects, may do nothing else until they have enrolled."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pyotp
import pytest

from tests.integration.api.conftest import Api
from tests.support.world import PASSWORD


@pytest.fixture
def required(api: Api) -> Iterator[Api]:
    api.settings.auth_require_totp = True
    yield api
    api.settings.auth_require_totp = False


async def _login(api: Api, username: str, code: str | None = None) -> httpx.Response:
    body = {"username": username, "password": PASSWORD}
    if code is not None:
        body["code"] = code
    return await api.client.post("/api/auth/login", json=body)


def _bearer(r: httpx.Response) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _enrol(api: Api, headers: dict[str, str]) -> tuple[str, list[str]]:
    r = await api.client.post("/api/auth/totp/enrol", json={"password": PASSWORD}, headers=headers)
    assert r.status_code == 200, r.text
    secret = r.json()["secret"]
    code = pyotp.TOTP(secret).now()
    c = await api.client.post("/api/auth/totp/confirm", json={"code": code}, headers=headers)
    assert c.status_code == 200, c.text
    return secret, c.json()["recovery_codes"]


def _next_code(secret: str) -> str:
    """A code of the next 30 s step: still accepted (± one step), and later than the last."""
    return pyotp.TOTP(secret).at(time.time() + 30)


async def test_an_operator_without_a_second_factor_must_enrol_before_anything_else(
    required: Api,
) -> None:
    api = required
    r = await _login(api, "op")
    assert r.json()["totp_enrolment_required"] is True
    headers = _bearer(r)
    denied = await api.client.get("/api/meters", headers=headers)
    assert denied.status_code == 403
    assert denied.json()["code"] == "error.totp_enrolment_required"
    me = await api.client.get("/api/me", headers=headers)
    assert me.json()["totp_enrolment_required"] is True
    await _enrol(api, headers)
    assert (await api.client.get("/api/meters", headers=headers)).status_code == 200


async def test_roles_that_cannot_order_disconnects_are_not_forced_to_enrol(required: Api) -> None:
    for user in ("insp1", "sup", "alice"):
        r = await _login(required, user)
        assert r.json()["totp_enrolment_required"] is False
        assert (await required.client.get("/api/meters", headers=_bearer(r))).status_code == 200


async def test_enrolment_shows_the_secret_as_uri_and_qr_code_and_needs_the_password(
    api: Api,
) -> None:
    headers = _bearer(await _login(api, "sup"))
    wrong = await api.client.post(
        "/api/auth/totp/enrol", json={"password": "not-it"}, headers=headers
    )
    assert wrong.status_code == 400
    r = await api.client.post("/api/auth/totp/enrol", json={"password": PASSWORD}, headers=headers)
    body = r.json()
    assert r.headers["cache-control"] == "no-store"
    assert body["otpauth_uri"].startswith("otpauth://totp/meterline:sup?secret=")
    assert body["secret"] in body["otpauth_uri"]
    assert body["qr_svg"].startswith("data:image/svg+xml")
    bad = await api.client.post("/api/auth/totp/confirm", json={"code": "000000"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["extra"][0]["key"] == "code"


async def test_a_second_enrolment_over_a_confirmed_factor_is_a_conflict(api: Api) -> None:
    headers = _bearer(await _login(api, "sup"))
    await _enrol(api, headers)
    r = await api.client.post("/api/auth/totp/enrol", json={"password": PASSWORD}, headers=headers)
    assert r.status_code == 409


async def test_login_with_a_second_factor_asks_for_the_code_and_takes_each_code_once(
    api: Api,
) -> None:
    secret, _ = await _enrol(api, _bearer(await _login(api, "sup")))
    asked = await _login(api, "sup")
    assert asked.status_code == 401
    assert asked.json()["code"] == "error.totp_required"
    assert (await _login(api, "sup", "123456")).status_code == 401
    code = _next_code(secret)
    assert (await _login(api, "sup", code)).status_code == 200
    replay = await _login(api, "sup", code)  # an observed code is no good a second time
    assert replay.status_code == 401


async def test_the_password_step_alone_does_not_count_as_a_failure(api: Api) -> None:
    secret, _ = await _enrol(api, _bearer(await _login(api, "sup")))
    for _ in range(6):  # more than the account's limit of failures
        assert (await _login(api, "sup")).json()["code"] == "error.totp_required"
    assert (await _login(api, "sup", _next_code(secret))).status_code == 200


async def test_wrong_codes_are_throttled_like_wrong_passwords(api: Api) -> None:
    await _enrol(api, _bearer(await _login(api, "sup")))
    answers = [(await _login(api, "sup", "000000")).status_code for _ in range(5)]
    assert answers == [401, 401, 401, 401, 429]


async def test_a_recovery_code_stands_in_for_the_code_once(api: Api) -> None:
    _, codes = await _enrol(api, _bearer(await _login(api, "sup")))
    assert len(codes) == 10
    assert len(set(codes)) == 10
    assert (await _login(api, "sup", codes[0])).status_code == 200
    assert (await _login(api, "sup", codes[0])).status_code == 401
    assert (await _login(api, "sup", codes[1].upper())).status_code == 200


async def test_a_customer_cannot_enrol_a_second_factor(api: Api) -> None:
    r = await api.client.post(
        "/api/auth/totp/enrol", json={"password": PASSWORD}, headers=await api.login("alice")
    )
    assert r.status_code == 403
