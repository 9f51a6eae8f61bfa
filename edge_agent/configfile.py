"""Reading the agent's configuration file: TOML, then the types, then the rules.

``load_config`` collects every problem of a file (syntax, types, unknown keys, then the rules
that span keys such as unique meter ids or a DL/T 645 address being 12 BCD digits) and raises
one :class:`ConfigError` listing them all, so the agent never starts half-configured.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from edge_agent import structcheck
from edge_agent.config import AgentConfig, ConfigError
from edge_agent.configrules import check_rules


def load_config(path: str | Path, *, environ: dict[str, str] | None = None) -> AgentConfig:
    """Read, validate and return the configuration, or raise ConfigError with every problem."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"cannot read the file: {exc.strerror}"]) from None
    return parse_config(text, source, environ=environ, base=Path(path).parent)


def parse_config(
    text: str,
    source: str = "<string>",
    *,
    environ: dict[str, str] | None = None,
    base: Path | None = None,
) -> AgentConfig:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from None
    config, problems = structcheck.build(document, AgentConfig)
    if config is None:
        raise ConfigError(source, problems)
    base = base or Path.cwd()
    problems = check_rules(config, environ=environ, base=base)
    if problems:
        raise ConfigError(source, problems)
    for _bus, meter in config.meters():  # a map path is relative to the config file
        if meter.map and (meter.map.endswith(".toml") or "/" in meter.map):
            path = Path(meter.map)
            meter.map = str(path if path.is_absolute() else base / path)
    return config
