"""The shell everyone sees: installable (manifest, icons, service worker as the backend serves
them), the language from the browser with a switch that sticks, a phone-sized layout, and a
page left open across a deploy that reloads onto the new build."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def fetch(server: Server, path: str) -> tuple[bytes, dict[str, str]]:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=10) as r:
        return r.read(), {k.lower(): v for k, v in r.headers.items()}


def test_the_app_is_installable_from_the_backend(server: Server) -> None:
    body, _ = fetch(server, "/manifest.webmanifest")
    manifest = json.loads(body)
    assert manifest["display"] == "standalone"
    assert manifest["start_url"] == "/"
    icons = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert icons == {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")}
    for icon in manifest["icons"]:
        png, headers = fetch(server, icon["src"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert headers["content-type"] == "image/png"
    sw, headers = fetch(server, "/sw.js")
    assert b"precacheAndRoute" in sw
    assert headers["cache-control"] == "no-cache"  # a new version reaches phones on next start


def test_the_language_follows_the_browser_and_the_switch_sticks(
    phone: Phone, server: Server
) -> None:
    zh = phone(locale="zh-CN").new_page()
    zh.goto("/login")
    expect(zh.get_by_role("heading", name="登录")).to_be_visible()
    assert zh.evaluate("document.documentElement.lang") == "zh-CN"
    # nothing wider than the phone: no sideways scrolling at 360 px
    assert zh.evaluate("document.documentElement.scrollWidth") <= 360
    shot(zh, "login-zh")

    en = phone(locale="en-GB").new_page()
    en.goto("/login")
    expect(en.get_by_role("heading", name="Log in")).to_be_visible()
    en.get_by_role("button", name="Switch language to Chinese").click()
    expect(en.get_by_role("heading", name="登录")).to_be_visible()
    assert en.evaluate("document.documentElement.lang") == "zh-CN"
    en.reload()
    expect(en.get_by_role("heading", name="登录")).to_be_visible()
    shot(en, "login-switched-zh")


def test_a_wrong_password_is_refused_with_a_message(phone: Phone, server: Server) -> None:
    page = phone(locale="en").new_page()
    page.goto("/login")
    page.fill("input[name=username]", "op-a")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_have_text("Wrong username or password.")
    assert page.url.endswith("/login")


def test_a_page_from_before_a_deploy_reloads_onto_the_new_build(
    phone: Phone, server: Server
) -> None:
    # A page opened before a deploy asks for a lazy screen's file under its old name: the server
    # has it no more (404). Here the usage screen's file is answered so until the page loads
    # again; the page must reload once and then show the screen ("the new build": the file again).
    # No service worker: it would serve the file from its own cache and never ask.
    page = phone(locale="zh-CN", service_workers="block").new_page()
    log_in(page, "cust-usage", "/customer")
    expect(page.get_by_role("heading", name="余额")).to_be_visible()
    refused: list[str] = []
    documents: list[str] = []
    page.on("request", lambda r: documents.append(r.url) if r.resource_type == "document" else None)

    def gone_until_reloaded(route: Any) -> None:
        if documents:
            route.continue_()
            return
        refused.append(route.request.url)
        route.fulfill(status=404, body="no such file")

    page.route("**/assets/Usage-*.js", gone_until_reloaded)
    page.get_by_role("navigation").get_by_role("link", name="用电", exact=True).click()
    expect(page.get_by_role("figure").filter(has_text="近 30 天")).to_be_visible()
    assert refused  # the old page did ask, and was refused
    assert documents == [f"{server.url}/customer/usage"]  # one reload, where the customer was
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "reload"
