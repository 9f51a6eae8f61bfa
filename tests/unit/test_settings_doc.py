"""The README's settings table is generated from Settings and must be current."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend import settings_doc
from backend.settings import Settings


def test_every_setting_has_a_meaning() -> None:
    assert set(Settings.__struct_fields__) <= set(settings_doc.MEANINGS)


def test_the_readme_table_is_current() -> None:
    text = settings_doc.README.read_text(encoding="utf-8")
    assert settings_doc.update_readme(text) == text


def test_each_setting_is_listed_once_with_its_default() -> None:
    table = settings_doc.render_table()
    for name in Settings.__struct_fields__:
        assert table.count(f"| `METERLINE_{name.upper()}` |") == 1
    assert "| `METERLINE_HTTP_PORT` | `8000` |" in table
    assert "| `METERLINE_INGEST` | `true` |" in table


def test_an_undocumented_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(settings_doc.MEANINGS, "http_port")
    with pytest.raises(settings_doc.UndocumentedSetting, match="http_port"):
        settings_doc.render_table()


def test_the_check_fails_on_a_stale_readme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = settings_doc.README.read_text(encoding="utf-8").replace("listen port", "port")
    path = tmp_path / "README.md"
    path.write_text(stale, encoding="utf-8")
    monkeypatch.setattr(settings_doc, "README", path)
    assert settings_doc.main(["--check"]) == 1
    assert settings_doc.main([]) == 0
    assert settings_doc.main(["--check"]) == 0
