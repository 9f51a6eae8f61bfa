"""Security headers on every answer (ASVS 14.4): CSP without inline script and with
frame-ancestors 'none', HSTS over TLS only, Referrer-Policy, nosniff, no-store on the API —
including the 401s the authentication middleware gives and the PWA's own files."""

from __future__ import annotations

from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.settings import load_settings
from tests.integration.api.conftest import Api


def _directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        name, *values = part.split()
        out[name] = values
    return out


@pytest.mark.parametrize("path", ["/health", "/api/meters", "/api/auth/login", "/", "/schema"])
async def test_every_answer_carries_the_security_headers(api: Api, path: str) -> None:
    r = await api.client.get(path)  # /api/meters: a 401 from the auth middleware
    csp = _directives(r.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no CDN
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert r.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in r.headers  # plain HTTP: no HSTS


async def test_api_answers_are_not_stored_by_default(api: Api) -> None:
    r = await api.client.get("/api/meters", headers=await api.login("op"))
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert (await api.client.get("/api/no-such-thing")).headers["cache-control"] == "no-store"


async def test_token_answers_are_never_stored(api: Api) -> None:
    r = await api.client.post(
        "/api/auth/login", json={"username": "op", "password": "correct horse battery"}
    )
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["pragma"] == "no-cache"
    refused = await api.client.post("/api/auth/login", json={"username": "op", "password": "x"})
    assert refused.headers["cache-control"] == "no-store"


async def test_hsts_is_sent_over_tls(api: Api) -> None:
    async with AsyncTestClient(api.client.app, base_url="https://meterline.example") as tls:
        r = await tls.get("/health")
    assert r.headers["strict-transport-security"] == "max-age=31536000"


async def test_hsts_is_sent_when_the_settings_say_the_service_is_behind_tls(api: Api) -> None:
    api.settings.http_tls = True
    try:
        r = await api.client.get("/health")
    finally:
        api.settings.http_tls = False
    assert r.headers["strict-transport-security"] == "max-age=31536000"


async def test_a_map_tile_origin_is_allowed_for_images_only_when_configured(tmp_path: Path) -> None:
    settings = load_settings(
        env={}, data_dir=str(tmp_path), ingest=False, http_map_tile_origin="https://tile.example"
    )
    app: Litestar = create_app(settings)
    async with AsyncTestClient(app) as client:
        csp = _directives((await client.get("/health")).headers["content-security-policy"])
    assert csp["img-src"] == ["'self'", "data:", "blob:", "https://tile.example"]
    assert csp["script-src"] == ["'self'"]


async def test_the_schema_is_served_as_json_without_a_docs_page_loading_foreign_script(
    api: Api,
) -> None:
    r = await api.client.get("/schema")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/")
    assert r.json()["openapi"].startswith("3.")
    assert (await api.client.get("/schema/openapi.yaml")).status_code == 200
    for gone in ("/schema/swagger", "/schema/scalar"):
        assert (await api.client.get(gone)).status_code == 404
    assert b"<script" not in r.content


def test_the_pwa_page_has_no_inline_script() -> None:
    html = (Path(__file__).parents[3] / "pwa" / "index.html").read_text()
    tags = [chunk.split(">", 1)[0] for chunk in html.split("<script")[1:]]
    assert tags  # the entry module
    assert all("src=" in tag for tag in tags), tags
