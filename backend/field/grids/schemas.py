"""API shapes of grids (网格) and transformer areas (台区)."""

from __future__ import annotations

import msgspec


class TransformerAreaOut(msgspec.Struct):
    id: int
    code: str
    name: str


class GridOut(msgspec.Struct):
    id: int
    code: str
    name: str
    inspector_id: int | None
    transformer_areas: list[TransformerAreaOut]
