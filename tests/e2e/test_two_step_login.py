"""Two-step login in the browser: a supervisor enrols an authenticator app (QR code and key,
a first code, recovery codes shown once), then logs in with a code, and with a recovery code."""

from __future__ import annotations

import time

import pyotp
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot
from tests.e2e.seed import PASSWORD

pytestmark = pytest.mark.e2e


def _password_step(page: object, username: str) -> None:
    page.goto("/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", PASSWORD)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_a_supervisor_enrols_two_step_login_and_then_needs_a_code(
    phone: Phone, server: Server
) -> None:
    page = phone(locale="en-GB").new_page()
    log_in(page, "sup-2fa", "/operator")
    page.get_by_test_id("totp-link").click()
    page.wait_for_url("**/totp")
    page.fill("input[name=password]", PASSWORD)
    page.get_by_role("button", name="Set up").click()
    expect(page.get_by_role("img", name="QR code for the authenticator app")).to_be_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    shot(page, "totp-enrol-en")
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_test_id("recovery-codes").get_by_role("listitem")
    expect(codes).to_have_count(10)
    recovery = codes.nth(0).inner_text().strip()
    page.get_by_role("button", name="I have saved them").click()
    page.wait_for_url("**/operator")
    expect(page.get_by_test_id("totp-link")).to_have_count(0)

    # a new phone, in Chinese: the password, then the code step
    zh = phone(locale="zh-CN").new_page()
    _password_step(zh, "sup-2fa")
    expect(zh.get_by_role("heading", name="两步验证")).to_be_visible()
    shot(zh, "totp-login-code-zh")
    zh.fill("input[name=code]", "000000")
    zh.click("button[type=submit]")
    expect(zh.get_by_role("alert")).to_have_text("验证码不正确或已使用过，请输入下一个验证码。")
    zh.fill("input[name=code]", pyotp.TOTP(secret).at(time.time() + 30))  # a step not used yet
    zh.click("button[type=submit]")
    zh.wait_for_url("**/operator")

    # and a third with a recovery code
    other = phone(locale="en-GB").new_page()
    _password_step(other, "sup-2fa")
    other.fill("input[name=code]", recovery)
    other.click("button[type=submit]")
    other.wait_for_url("**/operator")
    assert other.evaluate("Object.keys(localStorage).filter(k => k.includes('refresh'))") == []
