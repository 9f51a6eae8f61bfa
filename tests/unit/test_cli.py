"""The ``meterline`` command tree: built top down from the capabilities' cli modules."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from backend.cli import build_parser
from backend.cliargs import settings_from


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


def test_every_capability_command_is_on_the_meterline_command() -> None:
    assert _commands(build_parser()) == [
        "demo", "serve", "migrate", "asyncapi", "users", "import", "keyaccounts", "ingest",
        "payments", "seed", "tariffs",
    ]  # fmt: skip


def test_building_the_parser_twice_adds_no_command_twice() -> None:
    build_parser()
    assert _commands(build_parser()).count("users") == 1


def test_capability_commands_read_settings_from_their_own_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("METERLINE_DATA_DIR", raising=False)
    args = build_parser().parse_args(["tariffs", "load", "x.toml", "--data-dir", str(tmp_path)])
    assert args.func.__module__ == "backend.tariffs.cli"
    assert str(settings_from(args).data_dir) == str(tmp_path)
