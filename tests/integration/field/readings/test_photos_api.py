"""Register photos over HTTP: limits, real content type, storage by hash, grid scope."""

from __future__ import annotations

import hashlib
from pathlib import Path

from litestar.testing import AsyncTestClient

from backend.settings import Settings
from tests.integration.field.conftest import Tokens
from tests.integration.field.district import District
from tests.integration.field.helpers import JPEG, reading

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


async def test_a_photo_is_stored_once_by_its_hash_and_shown_with_its_reading(
    client: AsyncTestClient, auth: Tokens, district: District, settings: Settings
) -> None:
    headers = {**auth("insp-west"), "Content-Type": "image/jpeg"}
    first = await client.post("/api/field/photos", content=JPEG, headers=headers)
    again = await client.post("/api/field/photos", content=JPEG, headers=headers)
    sha = hashlib.sha256(JPEG).hexdigest()
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json() == {"sha256": sha, "content_type": "image/jpeg", "size_bytes": len(JPEG)}
    assert (Path(settings.data_dir) / "photos" / sha[:2] / sha).read_bytes() == JPEG
    meter = district.in_grid("west", ami=False)[0]
    r = await client.post(
        "/api/field/readings", json=reading(meter, photo_sha256=sha), headers=auth("insp-west")
    )
    assert r.json()["photo_sha256"] == sha
    shown = await client.get(f"/api/field/photos/{sha}", headers=auth("sup-chen"))
    assert (shown.status_code, shown.content) == (200, JPEG)
    assert shown.headers["content-type"] == "image/jpeg"
    assert (
        await client.get(f"/api/field/photos/{sha}", headers=auth("insp-east"))
    ).status_code == 404


async def test_a_photo_too_large_or_not_an_image_is_refused_naming_the_problem(
    client: AsyncTestClient, auth: Tokens, district: District
) -> None:
    headers = auth("insp-west")
    big = JPEG + b"\x00" * (2 * 1024 * 1024)
    r = await client.post(
        "/api/field/photos", content=big, headers={**headers, "Content-Type": "image/jpeg"}
    )
    assert r.status_code == 413
    assert "limit is 2097152 bytes" in r.json()["detail"]
    r = await client.post(
        "/api/field/photos",
        content=b"not a photo",
        headers={**headers, "Content-Type": "image/jpeg"},
    )
    assert r.status_code == 415
    assert "not a JPEG, PNG or WebP image" in r.json()["detail"]
    r = await client.post(
        "/api/field/photos", content=PNG, headers={**headers, "Content-Type": "image/jpeg"}
    )
    assert r.status_code == 400
    assert "declared image/jpeg but its content is image/png" in r.json()["detail"]
    r = await client.post(
        "/api/field/photos", content=JPEG, headers={**headers, "Content-Type": "application/pdf"}
    )
    assert r.status_code == 415
    assert "'application/pdf' is not accepted" in r.json()["detail"]
    r = await client.post("/api/field/photos", content=b"", headers=headers)
    assert r.status_code == 400
    assert "photo is empty" in r.json()["detail"]
