"""Load and demand trends of an area over HTTP."""

from __future__ import annotations

from datetime import date

import msgspec


class PeakOut(msgspec.Struct):
    period: str  # a local day (YYYY-MM-DD) or month (YYYY-MM)
    peak_w: int  # the highest active power of the total meter × CT × PT
    peak_at: int  # epoch ms
    load_rate: float | None  # peak against the transformer's rated kVA (unity power factor)
    overloaded: bool


class DemandOut(msgspec.Struct):
    transformer_area_id: int
    rated_kva: int
    from_day: date
    to_day: date
    days: list[PeakOut]  # the days with readings
    months: list[PeakOut]  # max demand per month of the range (the months with readings)
