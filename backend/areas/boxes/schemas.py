"""Meter boxes of an area over HTTP."""

from __future__ import annotations

from typing import Annotated

import msgspec

BoxCode = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9._-]+$")]


class BoxIn(msgspec.Struct, forbid_unknown_fields=True):
    code: BoxCode


class BoxOut(msgspec.Struct):
    id: int
    code: str
    transformer_area_id: int
    meters: int  # meters placed in the box today (open placements)
