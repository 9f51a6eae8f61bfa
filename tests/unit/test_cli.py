"""The ``meterline`` command tree: built top down from the capabilities' cli modules."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from backend.cli import build_parser, main
from backend.cliargs import log_level, settings_from


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


def test_the_log_level_option_governs_the_server_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """``meterline --log-level WARNING serve`` silenced the command's logging but not uvicorn's
    access log, which followed METERLINE_LOG_LEVEL alone."""
    monkeypatch.delenv("METERLINE_LOG_LEVEL", raising=False)
    args = build_parser().parse_args(["--log-level", "WARNING", "serve"])
    assert (log_level(args), settings_from(args).log_level) == ("WARNING", "WARNING")
    args = build_parser().parse_args(["serve"])
    assert (log_level(args), settings_from(args).log_level) == ("INFO", "INFO")
    monkeypatch.setenv("METERLINE_LOG_LEVEL", "error")
    assert (log_level(args), settings_from(args).log_level) == ("ERROR", "error")


def test_an_unknown_log_level_is_refused_with_its_name(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("METERLINE_LOG_LEVEL", raising=False)
    assert main(["--log-level", "LOUD", "asyncapi", "--check"]) == 2
    assert "log level 'LOUD' is not one of DEBUG, INFO" in capsys.readouterr().err
