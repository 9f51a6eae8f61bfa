"""Demand trends read the areas' supply and the total meter's readings; no table of their own."""

from __future__ import annotations

from backend.areas.models import AreaSupply
from backend.metering.models import Reading
from protocols.contract.quantities import Quantity

__all__ = ["AreaSupply", "Quantity", "Reading"]
