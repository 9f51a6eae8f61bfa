"""A customer's report can carry a photo, uploaded with the field photos' limits and seen only
by whoever sees the order."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from litestar.testing import AsyncTestClient

from tests.integration.servicedesk.conftest import Desk

Auth = Callable[[str], dict[str, str]]
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def _upload(client: AsyncTestClient, who: dict[str, str], data: bytes, ctype: str) -> Any:
    return await client.post("/api/servicedesk/photos", content=data,
                             headers={**who, "Content-Type": ctype})  # fmt: skip


async def _report(client: AsyncTestClient, who: dict[str, str], **extra: object) -> Any:
    body = {"kind": "fault", "description": "表箱烧焦，见照片", **extra}
    return await client.post("/api/servicedesk/reports", json=body,
                             headers={**who, "Idempotency-Key": uuid.uuid4().hex})  # fmt: skip


async def test_a_customers_fault_report_carries_their_photo_and_only_those_who_see_it_get_it(
    client: AsyncTestClient, desk: Desk, auth: Auth
) -> None:
    r = await _upload(client, auth("cust-wang"), PNG, "image/png")
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    r = await _report(client, auth("cust-wang"), photo_sha256=sha)
    assert r.status_code == 201, r.text
    oid = r.json()["order"]["id"]
    assert r.json()["order"]["photo_sha256"] == sha
    for who in ("cust-wang", "op-zhao"):
        got = await client.get(f"/api/servicedesk/orders/{oid}/photo", headers=auth(who))
        assert got.status_code == 200, who
        assert got.content == PNG
        assert got.headers["content-type"] == "image/png"
    other = await client.get(f"/api/servicedesk/orders/{oid}/photo", headers=auth("cust-zhou"))
    assert other.status_code == 404


async def test_another_users_photo_garbage_and_oversized_uploads_are_refused(
    client: AsyncTestClient, desk: Desk, auth: Auth
) -> None:
    r = await _upload(client, auth("cust-wang"), PNG, "image/png")
    sha = r.json()["sha256"]
    r = await _report(client, auth("cust-zhou"), photo_sha256=sha)
    assert r.status_code == 400
    assert r.json()["code"] == "error.photo_not_found"
    r = await _report(client, auth("cust-wang"), photo_sha256="f" * 64)
    assert r.status_code == 400
    r = await _upload(client, auth("cust-wang"), b"not an image at all", "image/png")
    assert r.status_code == 415
    r = await _upload(client, auth("cust-wang"), PNG + b"\x00" * (3 * 1024 * 1024), "image/png")
    assert r.status_code == 413
    r = await _upload(client, auth("op-zhao"), PNG, "image/png")
    assert r.status_code == 403
    r = await _report(client, auth("cust-wang"))
    oid = r.json()["order"]["id"]
    got = await client.get(f"/api/servicedesk/orders/{oid}/photo", headers=auth("cust-wang"))
    assert got.status_code == 404
