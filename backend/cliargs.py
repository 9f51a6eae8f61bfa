"""What every ``meterline`` sub-command shares: the sub-parsers type and settings from the
command line. ``backend/cli.py`` builds the argparse tree by importing each capability's
``cli`` module and calling its ``register``; those modules import this one, never
``backend/cli.py``, so the command tree has no import cycle."""

from __future__ import annotations

import argparse
import os
from typing import TypeAlias

from backend.settings import Settings, SettingsError, load_settings

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the file and environment, overridden by the options a command has."""
    return load_settings(
        file=getattr(args, "settings", None),
        http_host=getattr(args, "host", None),
        http_port=getattr(args, "port", None),
        data_dir=getattr(args, "data_dir", None),
        log_level=getattr(args, "log_level", None),
    )


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log_level(args: argparse.Namespace) -> str:
    """``--log-level``, else ``METERLINE_LOG_LEVEL``, else INFO: one level for the command's own
    logging and the server's (uvicorn's access log among it)."""
    level = str(getattr(args, "log_level", None) or os.environ.get("METERLINE_LOG_LEVEL") or "INFO")
    if level.upper() not in LEVELS:
        raise SettingsError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    return level.upper()
