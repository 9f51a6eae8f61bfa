"""Every code the server can emit for people has a zh-CN and an English text in the PWA, and
the notices the server words itself say what the app says."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import backend
from backend.prepaid.notices import CATALOGUE, NoticeText
from backend.texts import TextCode, all_codes

I18N = Path(__file__).resolve().parents[2] / "pwa" / "src" / "i18n"
ENTRY = re.compile(r"^\s*'((?:[^'\\]|\\.)+)':\s*'((?:[^'\\]|\\.)*)',\s*$", re.MULTILINE)


def catalogue(name: str) -> dict[str, str]:
    text = (I18N / f"{name}.ts").read_text(encoding="utf-8")
    return {k: v.replace("\\'", "'") for k, v in ENTRY.findall(text)}


def server_codes() -> dict[str, type[TextCode]]:
    """Import every backend module, so that every TextCode enum is found, wherever it lives."""
    for mod in pkgutil.walk_packages(backend.__path__, "backend."):
        if not mod.name.startswith("backend.migrations"):
            importlib.import_module(mod.name)
    return all_codes()


CODES = server_codes()


def test_the_backend_has_codes_in_every_family_it_words() -> None:
    families = {code.split(".")[0] for code in CODES}
    assert {"error", "policy", "check", "memo", "command", "notice"} <= families
    assert len(CODES) > 100


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_server_code_has_a_text_in_the_pwa(language: str) -> None:
    texts = catalogue(language)
    assert len(texts) > 300  # the catalogue was read
    missing = sorted(
        f"{code} ({enum.__name__})" for code, enum in CODES.items() if code not in texts
    )
    assert missing == []


def test_the_server_words_notices_as_the_app_does() -> None:
    for language, pwa in (("zh-CN", catalogue("zh")), ("en", catalogue("en"))):
        assert {k.value: v for k, v in CATALOGUE[language].items()} == {
            code.value: pwa[code.value] for code in NoticeText
        }
