"""msgspec Structs of the areas API, one per operation. Energy integer Wh, time epoch ms."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from backend.areas.figures import LossState, OutageCause
from backend.texts import Text


class OutageOut(msgspec.Struct):
    id: int
    transformer_area_id: int
    area_code: str
    area_name: str
    feeder_id: int | None
    cause: OutageCause
    started_at: int
    ended_at: int | None
    meters: int  # meters that went dark
    meters_off: int  # still dark now
    customers: int  # customers affected
    notice_id: int | None  # the planned notice it was matched with
    feeder_outage_id: int | None = None  # the feeder outage it is part of
    work_order_id: int | None = None  # the service-desk fault order opened for it
    fault_notice_id: int | None = None  # the unplanned notice calls from the area link to
    sources: list[str] = []  # the signals its meters' failures came from (PowerSignal)
    # every part known only from an agent's last will (with other evidence): not yet seen
    suspected: bool = False


class FeederOutageOut(msgspec.Struct):
    id: int
    feeder_id: int
    feeder_code: str
    feeder_name: str
    started_at: int
    ended_at: int | None
    areas: list[OutageOut]
    work_order_id: int | None = None  # the one fault order of the feeder outage


class LossOut(msgspec.Struct):
    transformer_area_id: int
    area_code: str
    day: date
    supplied_wh: int | None
    billed_wh: int
    loss_wh: int | None
    rate: float | None
    expected_meters: int
    reporting_meters: int
    state: LossState


class MonthLossOut(msgspec.Struct):
    transformer_area_id: int
    area_code: str
    month: str  # YYYY-MM, local
    supplied_wh: int | None
    billed_wh: int
    loss_wh: int | None
    rate: float | None
    days: int
    complete_days: int  # days whose own figure was complete
    state: LossState


class MeterQualityOut(msgspec.Struct):
    meter_pk: int
    meter_id: str
    phases: int
    samples: int
    within: int
    above: int
    below: int
    rate: float | None


class QualityOut(msgspec.Struct):
    transformer_area_id: int
    area_code: str
    day: date
    samples: int
    within: int
    above: int
    below: int
    rate: float | None
    unbalance_max: float | None  # of the total meter's phase currents
    worst: list[MeterQualityOut]


class ReliabilityOut(msgspec.Struct):
    scope: str  # "area" or "feeder"
    id: int
    code: str
    customers: int
    interruptions: int
    customer_hours: float
    saifi: float | None
    saidi_hours: float | None
    rs1: float | None
    rs3: float | None


class LoadPoint(msgspec.Struct, array_like=True):
    ts: int
    w: int


class LoadOut(msgspec.Struct):
    transformer_area_id: int
    rated_kva: int
    peak_w: int | None
    peak_at: int | None
    load_rate: float | None  # peak / rated (unity power factor)
    overloaded: bool
    points: list[LoadPoint]


class AreaOut(msgspec.Struct):
    id: int
    code: str
    name: str
    feeder_code: str | None
    substation_code: str | None
    rated_kva: int
    total_meter_id: str | None
    ct_ratio: int
    pt_ratio: int
    meters: int
    outage: OutageOut | None
    loss: LossOut | None  # yesterday's
    unknown_meters: int = 0  # meters whose agent is offline (its last will): state unknown


class MeterMove(msgspec.Struct, forbid_unknown_fields=True):
    transformer_area_id: Annotated[int, msgspec.Meta(ge=1)]
    from_day: date
    meter_box_id: Annotated[int, msgspec.Meta(ge=1)] | None = None


class PlacementOut(msgspec.Struct):
    transformer_area_id: int
    area_code: str
    meter_box_id: int | None
    from_day: date
    to_day: date | None


class CutRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A power cut on the demo's simulated meters (for drills and the demo only)."""

    restore: bool = False


class MyOutage(msgspec.Struct):
    outage_id: int
    area_name: str
    cause: OutageCause
    off_at: int
    on_at: int | None
    expected_end_at: int | None  # from a matched planned notice
    notices: list[Text]
