"""`meterline tariffs list` and `meterline tariffs assign` on a migrated SQLite database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from backend import migrate
from backend.cli import main
from backend.db import create_engine
from backend.tariffs.loader import DEFAULT_FILE
from tests.support.world import build_world

ZJ = DEFAULT_FILE.parent / "examples" / "zhejiang_residential_2026.toml"


async def _world(url: str) -> None:
    engine = create_engine(url)
    try:
        await build_world(engine)
    finally:
        await engine.dispose()


def test_the_cli_lists_the_tariffs_in_force_and_assigns_a_schedule_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    asyncio.run(_world(url))
    monkeypatch.setenv("METERLINE_DATABASE_URL", url)
    common = ["--data-dir", str(tmp_path)]
    for f in (DEFAULT_FILE, ZJ):
        assert main(["tariffs", "load", str(f), *common]) == 0
    capsys.readouterr()
    assert main(["tariffs", "list", "--on", "2026-06-01", *common]) == 0
    out = capsys.readouterr().out
    assert "tariffs in force on 2026-06-01: 8" in out
    assert "zj-residential-tou" in out
    assert "peak=0.568,0.618,0.868" in out
    assert main(["tariffs", "assign", "A001", "zj-residential-tou", "2026-03-01", *common]) == 0
    assert "A001: assigned zj-residential-tou from 2026-03-01" in capsys.readouterr().out
    assert main(["tariffs", "assign", "A001", "zj-residential-tou", "2026-03-01", *common]) == 0
    assert "already assigned" in capsys.readouterr().out
    assert main(["tariffs", "assign", "A001", "zj-residential", "2026-03-01", *common]) == 1
    assert "already changes to 'zj-residential-tou'" in capsys.readouterr().err
    assert main(["tariffs", "assign", "NOPE", "zj-residential", "2026-03-01", *common]) == 1
    assert "no account 'NOPE'" in capsys.readouterr().err


def test_the_cli_issues_a_months_postpaid_bills_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    asyncio.run(_world(url))
    monkeypatch.setenv("METERLINE_DATABASE_URL", url)
    common = ["--data-dir", str(tmp_path)]
    assert main(["tariffs", "load", str(DEFAULT_FILE), *common]) == 0
    capsys.readouterr()
    assert main(["tariffs", "issue", "2026-11", *common]) == 0
    assert "bills 2026-11: 1 issued, 0 already issued" in capsys.readouterr().out
    assert main(["tariffs", "issue", "2026-11", *common]) == 0
    assert "bills 2026-11: 0 issued, 1 already issued" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["tariffs", "issue", "2026-13", *common])
