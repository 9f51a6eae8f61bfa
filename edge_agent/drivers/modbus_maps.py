"""Register maps for the agent: the protocols loader, cached, with paths relative to the
config file and errors the config check can report under the meter's key."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from protocols.contract import Quantity
from protocols.modbus import MapError, RegisterMap, load_map


class MapLoadError(ValueError):
    pass


class AgentMap:
    """A RegisterMap plus what the agent asks of it."""

    def __init__(self, register_map: RegisterMap) -> None:
        self.map = register_map

    def quantities(self) -> list[Quantity]:
        names = [r.quantity for r in self.map.registers]
        if self.map.relay is not None:
            names.append(Quantity.RELAY_STATE)
        return names


@lru_cache(maxsize=64)
def _load(key: str) -> AgentMap:
    try:
        return AgentMap(load_map(key))
    except MapError as exc:
        raise MapLoadError(str(exc)) from None


def load(name_or_path: str, base: Path | None = None) -> AgentMap:
    """A shipped map by name (``sdm630``) or a TOML file (relative to ``base``)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or len(path.parts) > 1:
        if not path.is_absolute() and base is not None:
            path = base / path
        return _load(str(path))
    return _load(name_or_path)
