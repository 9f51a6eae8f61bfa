"""API shapes of grids (网格) and transformer areas (台区)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from backend.field.grids.models import OrgLevel


class TransformerAreaOut(msgspec.Struct):
    id: int
    code: str
    name: str


class GridOut(msgspec.Struct):
    id: int
    code: str
    name: str
    inspector_id: int | None
    org_unit_id: int | None
    transformer_areas: list[TransformerAreaOut]


class OrgUnitIn(msgspec.Struct, forbid_unknown_fields=True):
    """A new unit: a province has no parent, a city's parent is a province, a district's a city."""

    level: OrgLevel
    code: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    parent_id: int | None = None


class OrgUnitOut(msgspec.Struct):
    id: int
    parent_id: int | None
    level: OrgLevel
    code: str
    name: str
    grid_ids: list[int]  # the grids placed directly in this unit (districts only)


class UnitRef(msgspec.Struct, forbid_unknown_fields=True):
    """Which unit: a grid's district, or the unit a staff user is scoped to (null: none)."""

    org_unit_id: int | None
