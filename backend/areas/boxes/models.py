"""Meter boxes (表箱) are stored in the areas' own table; this room names it for the boxes."""

from __future__ import annotations

from backend.areas.models import MeterBox, MeterPlacement

__all__ = ["MeterBox", "MeterPlacement"]
