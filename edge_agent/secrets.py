"""Secrets by reference: relay passwords and the MQTT password never sit in the config file.

A meter names its relay credentials with ``relay_secret``:

* ``"env:VAR"`` — the environment variable ``VAR`` holds ``LEVEL:PASSWORD:OPERATOR``, e.g.
  ``02:123456:1A2B3C4D`` (password level PA, the 6-digit password, the 8-digit operator code);
* ``"NAME"`` — the table ``[relay.NAME]`` of the secrets file (``secrets_file`` in the config,
  mode 0600), with keys ``level`` (int), ``password`` and ``operator`` (strings).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import msgspec

_PASSWORD = re.compile(r"^[0-9A-Fa-f]{6}$")
_OPERATOR = re.compile(r"^[0-9A-Fa-f]{8}$")


class SecretError(ValueError):
    pass


class RelayCredentials(msgspec.Struct, frozen=True):
    level: int
    password: str
    operator: str

    def __repr__(self) -> str:  # never print the secret itself
        return f"RelayCredentials(level={self.level}, password=***, operator=***)"


def _credentials(level: object, password: object, operator: object, where: str) -> RelayCredentials:
    if not isinstance(level, int) or not 0 <= level <= 9:
        raise SecretError(f"{where}: level must be an integer 0..9")
    if not isinstance(password, str) or not _PASSWORD.match(password):
        raise SecretError(f"{where}: password must be 6 hex digits")
    if not isinstance(operator, str) or not _OPERATOR.match(operator):
        raise SecretError(f"{where}: operator must be 8 hex digits")
    return RelayCredentials(level, password.upper(), operator.upper())


def load_secrets_file(path: str | Path) -> dict[str, object]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise SecretError(f"secrets file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SecretError(f"secrets file {path}: not valid TOML: {exc}") from None


def resolve_relay(
    ref: str, secrets: dict[str, object] | None, environ: dict[str, str] | None = None
) -> RelayCredentials:
    env = os.environ if environ is None else environ
    if ref.startswith("env:"):
        var = ref[4:]
        raw = env.get(var)
        if raw is None:
            raise SecretError(f"environment variable {var} is not set")
        parts = raw.split(":")
        if len(parts) != 3 or not parts[0].isdigit():
            raise SecretError(f"environment variable {var} must hold LEVEL:PASSWORD:OPERATOR")
        return _credentials(int(parts[0]), parts[1], parts[2], f"environment variable {var}")
    if secrets is None:
        raise SecretError(f"{ref!r} refers to the secrets file, but secrets_file is not set")
    table = secrets.get("relay", {})
    entry = table.get(ref) if isinstance(table, dict) else None
    if not isinstance(entry, dict):
        raise SecretError(f"the secrets file has no [relay.{ref}] table")
    return _credentials(
        entry.get("level"), entry.get("password"), entry.get("operator"), f"[relay.{ref}]"
    )


def read_password(file: str | None, env_var: str | None, environ: dict[str, str] | None) -> str:
    env = os.environ if environ is None else environ
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretError(f"password file {file}: {exc.strerror}") from None
    if env_var:
        if env_var not in env:
            raise SecretError(f"environment variable {env_var} is not set")
        return env[env_var]
    return ""
