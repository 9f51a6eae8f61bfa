"""Suspected theft or fault over HTTP."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

# the recent week's daily mean below this share of the 28 days before it is a fall
Share = Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)]
# the area's loss rate rising by at least this much (0.05 = 5 points) is a rise
Rise = Annotated[float, msgspec.Meta(gt=0.0, le=1.0)]
# a meter using less than this a day before (Wh) is too small to judge
MinWh = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


class DetectIn(msgspec.Struct, forbid_unknown_fields=True):
    day: date | None = None  # the last day of the recent window (local); default yesterday
    drop_share: Share = 0.5
    loss_rise: Rise = 0.05
    min_baseline_wh: MinWh = 1_000


class SuspicionOut(msgspec.Struct):
    id: int
    meter_pk: int
    meter_id: str
    customer_id: int
    transformer_area_id: int
    area_code: str
    day: date
    baseline_wh_per_day: int
    recent_wh_per_day: int
    loss_rate_before: float
    loss_rate_after: float
    task_id: int
    task_status: str  # open until the inspector's result; then done (or cancelled)
    task_result: str


class DetectOut(msgspec.Struct):
    areas_checked: int
    areas_rising: int  # areas whose loss rate rose by at least loss_rise
    new: list[SuspicionOut]
