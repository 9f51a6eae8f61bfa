"""Every route declares its parameters the way the web framework will keep reading them: no
deprecation warning while the application is built (path and cookie parameters and request
bodies are marked, not inferred from their names), and the PWA's fallback route takes its
path from the path alone and serves the app shell for client-side routes, not for a missing
built file."""

from __future__ import annotations

import warnings
from pathlib import Path

from litestar import Litestar
from litestar.testing import TestClient
from litestar.utils.deprecation import LitestarDeprecationWarning

from backend.app import create_app
from backend.settings import Settings
from backend.system.pwa import pwa_handler


def test_building_the_application_warns_of_no_deprecated_declaration(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        create_app(settings)
    deprecated = [str(w.message) for w in caught if w.category is LitestarDeprecationWarning]
    assert deprecated == []


def test_the_pwa_is_served_by_its_path_never_by_a_query(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("index")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.js").write_text("app")
    with TestClient(Litestar([pwa_handler(tmp_path)])) as client:
        assert client.get("/").text == "index"
        assert client.get("/?path=assets/app.js").text == "index"  # a query names no file
        assert client.get("/assets/app.js").text == "app"
        assert client.get("/inspector/meter/2").text == "index"  # a client-side route
        assert client.get("/api/nothing").status_code == 404


def test_a_missing_built_asset_is_not_found_not_the_app_shell(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("index")
    (tmp_path / "assets").mkdir()
    with TestClient(Litestar([pwa_handler(tmp_path)])) as client:
        gone = client.get("/assets/Customer-OLDHASH.js")  # a chunk of the build before
        assert gone.status_code == 404
        assert "no such file: /assets/Customer-OLDHASH.js" in gone.text
