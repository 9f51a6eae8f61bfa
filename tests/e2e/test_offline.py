"""Offline capture: readings (one with a photo) wait in the IndexedDB outbox, survive a restart of
the app with no network, and are replayed in order when the network returns; a 503 during replay
is not success and leaves the item waiting. The server ends up with exactly one reading per
capture."""

from __future__ import annotations

import base64
import re
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import Phone, Server, log_in, shot

pytestmark = pytest.mark.e2e


def register_photo(page: Any) -> bytes:
    """A real JPEG of a meter register, drawn by the browser itself (4000×3000, as a phone
    camera makes them, so the app has something to downscale)."""
    data_url = page.evaluate(
        """() => {
          const c = document.createElement('canvas');
          c.width = 4000; c.height = 3000;
          const g = c.getContext('2d');
          g.fillStyle = '#dde'; g.fillRect(0, 0, 4000, 3000);
          g.fillStyle = '#111'; g.font = '600px monospace'; g.fillText('04321.50', 200, 1800);
          return c.toDataURL('image/jpeg', 0.92);
        }"""
    )
    return base64.b64decode(data_url.split(",", 1)[1])


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's start-of-frame segment."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(
                data[i + 5 : i + 7], "big"
            )
        i += 2 + length
    raise ValueError("no start-of-frame segment")


def photo_bytes(server: Server, sha256: str) -> bytes:
    req = urllib.request.Request(f"{server.url}/api/field/photos/{sha256}")
    req.add_header("authorization", f"Bearer {server.token('sup')}")
    with urllib.request.urlopen(req, timeout=10) as r:
        return bytes(r.read())


def capture(
    page: Any,
    seq: int,
    value: str,
    photo: bytes | None = None,
    *,
    then: str = "Waiting on this device to be sent.",
) -> None:
    """Capture, confirm with a double tap, and see the locked card say ``then``."""
    page.get_by_role("link", name=re.compile(r"^Route$")).first.click()
    page.locator(f"ol a[href='/inspector/meter/{seq}']").click()
    expect(page.get_by_test_id("gps-accuracy")).to_be_visible()
    page.fill("input[name=reading]", value)
    if photo is not None:
        page.set_input_files(
            "input[name=photo]", {"name": "register.jpg", "mimeType": "image/jpeg", "buffer": photo}
        )
        expect(page.locator("img.thumb")).to_be_visible()
    page.click("button[type=submit]")
    confirm = page.get_by_role("button", name="Confirm and lock")
    confirm.dblclick()  # a double tap confirms once
    expect(page.get_by_test_id("locked")).to_contain_text(then)


def held_readings(server: Server, meter_id: str) -> list[dict[str, Any]]:
    return list(server.api("GET", f"/field/readings?meter_id={meter_id}", server.token("sup")))


def test_readings_captured_offline_wait_survive_a_restart_and_replay_once(
    phone: Phone, server: Server
) -> None:
    r = server.seeded.rounds["offline"]
    first, second = r.stops[0], r.stops[1]
    ctx = phone(locale="en", geolocation=(first.lat, first.lon, 6))
    page = ctx.new_page()
    log_in(page, r.inspector, "/inspector")
    expect(page.get_by_text("0 of 3 done")).to_be_visible()
    # the service worker has the app shell before the network goes
    page.wait_for_function("navigator.serviceWorker.controller !== null")

    ctx.set_offline(True)
    expect(page.get_by_test_id("net")).to_have_text("Offline")
    capture(page, 1, "4321.5", photo=register_photo(page))
    ctx.set_geolocation({"latitude": second.lat, "longitude": second.lon, "accuracy": 6})
    capture(page, 2, "777")

    page.get_by_role("link", name="Outbox").first.click()
    expect(page.get_by_test_id("outbox-count")).to_have_text("2 waiting to be sent")
    expect(page.get_by_test_id("outbox-waiting").get_by_role("listitem")).to_have_count(2)
    expect(page.get_by_test_id("outbox-badge")).to_have_text("⇪ 2")
    shot(page, "inspector-outbox-offline-en")

    # the app restarts with no network: shell from the service worker, book and captures from
    # IndexedDB, nothing lost
    page.reload()
    expect(page.get_by_test_id("outbox-count")).to_have_text("2 waiting to be sent")
    page.get_by_role("link", name=re.compile(r"^Route$")).first.click()
    expect(page.get_by_text(re.compile("^Offline copy from"))).to_be_visible()
    expect(page.get_by_text("2 of 3 done")).to_be_visible()
    shot(page, "inspector-route-offline-en")
    assert held_readings(server, first.meter_id) == []

    ctx.set_offline(False)  # the `online` event replays the outbox
    page.get_by_role("link", name="Outbox").first.click()
    expect(page.get_by_test_id("outbox-count")).to_have_text("0 waiting to be sent")
    expect(page.get_by_test_id("outbox-badge")).to_have_count(0)

    got_first, got_second = (
        held_readings(server, first.meter_id),
        held_readings(server, second.meter_id),
    )
    assert [x["registers"] for x in got_first] == [{"energy_import": 4_321_500}]
    assert [x["registers"] for x in got_second] == [{"energy_import": 777_000}]
    assert re.fullmatch("[0-9a-f]{64}", got_first[0]["photo_sha256"])
    # the 4000×3000 camera photo went up downscaled on the phone
    stored = photo_bytes(server, got_first[0]["photo_sha256"])
    assert stored[:3] == b"\xff\xd8\xff"
    assert jpeg_size(stored) == (1600, 1200)
    assert len(stored) < 400_000
    assert got_second[0]["photo_sha256"] is None


def test_a_503_during_replay_leaves_the_reading_waiting_until_send_now(
    phone: Phone, server: Server
) -> None:
    r = server.seeded.rounds["retry"]
    stop = r.stops[0]
    # page.route sees every request only without a service worker in between
    ctx = phone(locale="en", geolocation=(stop.lat, stop.lon, 5), service_workers="block")
    page = ctx.new_page()
    answered: list[int] = []

    def once_503(route: Any) -> None:
        if not answered:
            answered.append(503)
            route.fulfill(status=503, content_type="application/json", body='{"detail":"down"}')
        else:
            answered.append(0)
            route.continue_()

    page.route("**/api/field/readings", once_503)
    log_in(page, r.inspector, "/inspector")
    capture(page, 1, "100.25")

    page.get_by_role("link", name="Outbox").first.click()
    expect(page.get_by_test_id("outbox-result")).to_contain_text("the server answered 503")
    expect(page.get_by_test_id("outbox-count")).to_have_text("1 waiting to be sent")
    expect(page.get_by_test_id("outbox-waiting")).to_contain_text("HTTP 503")
    shot(page, "inspector-outbox-503-en")
    assert held_readings(server, stop.meter_id) == []

    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("outbox-count")).to_have_text("0 waiting to be sent")
    assert answered == [503, 0]
    got = held_readings(server, stop.meter_id)
    assert [x["registers"] for x in got] == [{"energy_import": 100_250}]


def test_a_refused_reading_needs_attention_until_the_inspector_tries_again(
    phone: Phone, server: Server
) -> None:
    r = server.seeded.rounds["retry"]
    stop = r.stops[1]
    ctx = phone(locale="en", geolocation=(stop.lat, stop.lon, 5), service_workers="block")
    page = ctx.new_page()
    refused: list[bool] = []

    def refuse_once(route: Any) -> None:
        if not refused:
            refused.append(True)
            body = '{"status_code":422,"detail":"registers.energy_import: not a plausible value"}'
            route.fulfill(status=422, content_type="application/json", body=body)
        else:
            route.continue_()

    page.route("**/api/field/readings", refuse_once)
    log_in(page, r.inspector, "/inspector")
    # refused at once (online): the locked card says so, not that it waits or was sent
    capture(page, 2, "55.5", then="The server refused it: not sent.")
    expect(page.get_by_test_id("refused")).to_be_visible()

    page.get_by_role("link", name="Outbox").first.click()
    attention = page.get_by_test_id("outbox-attention")
    expect(attention).to_contain_text("422")
    expect(attention).to_contain_text("not a plausible value")
    expect(page.get_by_test_id("outbox-count")).to_have_text("0 waiting to be sent")
    expect(page.get_by_test_id("outbox-badge")).to_have_text("⇪ 1")  # never silently gone
    shot(page, "inspector-outbox-attention-en")

    attention.get_by_role("button", name="Try again").click()
    expect(page.get_by_test_id("outbox-count")).to_have_text("1 waiting to be sent")
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_test_id("outbox-count")).to_have_text("0 waiting to be sent")
    expect(page.get_by_test_id("outbox-attention")).to_have_count(0)
    got = held_readings(server, stop.meter_id)
    assert [x["registers"] for x in got] == [{"energy_import": 55_500}]
