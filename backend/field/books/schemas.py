"""API Structs for reading books (抄表册), field tasks and route coverage."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.field.readings.schemas import NO_NUL, GpsFix, MeterId, RowId

Cycle = Annotated[str, Meta(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class Position(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    latitude: Annotated[float, Meta(ge=-90, le=90)]
    longitude: Annotated[float, Meta(ge=-180, le=180)]


class BookCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    inspector_id: RowId
    cycle: Cycle | None = None  # default: the current local month
    start: Position | None = None  # where the walk begins (the office); default: an edge


class BookReplan(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start: Position | None = None


class LastValue(msgspec.Struct, kw_only=True):
    value_wh: int
    ts: int
    source: str


class Expected(msgspec.Struct, kw_only=True):
    """Where energy_import should be when read at time t (the app checks before confirming):
    days = (t - previous_ts) / 86 400 000;
    low = previous_wh + floor(low_wh_per_day × days);
    high = previous_wh + ceil(high_wh_per_day × max(days, 1)).
    The server flags a confirmed reading outside this range (consumption_out_of_range)."""

    previous_wh: int
    previous_ts: int
    low_wh_per_day: int
    high_wh_per_day: int


class BookCustomer(msgspec.Struct, kw_only=True):
    id: int
    number: str  # 户号
    name: str
    address: str
    phone: str
    category: str
    key_account_class: int | None
    latitude: float | None
    longitude: float | None


class BookMeter(msgspec.Struct, kw_only=True):
    meter_id: str
    serial: str
    latitude: float | None
    longitude: float | None
    last: dict[str, LastValue]  # latest reading per register
    expected: Expected | None  # None: too little history to say


class BookTask(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    status: str
    due_on: str | None
    note: str


class Done(msgspec.Struct, kw_only=True):
    reading_id: str
    ts: int


class BookItem(msgspec.Struct, kw_only=True):
    seq: int  # position on the walking route, from 1
    kind: Literal["reading", "visit"]
    reasons: list[str]  # no_ami, meter_check, safety_inspection, …
    customer: BookCustomer
    meter: BookMeter | None
    tasks: list[BookTask]
    done: Done | None


class Book(msgspec.Struct, kw_only=True):
    """Everything the handheld needs offline for the cycle. Fetch with If-None-Match: the
    ETag changes whenever anything here does (membership, order, last values, done marks)."""

    id: int
    cycle: str
    version: int  # bumped when membership or order change (generation, re-planning)
    inspector_id: int
    generated_at: int
    planned_at: int
    route_length_m: int
    total: int
    done: int
    items: list[BookItem]


class BookSummary(msgspec.Struct, kw_only=True):
    id: int
    cycle: str
    version: int
    inspector_id: int
    total: int
    planned_at: int


class TaskCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Literal[
        "meter_check",
        "safety_inspection",
        "energy_audit",
        "equipment_checkup",
        "onsite_application",
        "customer_visit",
    ]
    customer_id: RowId
    meter_id: MeterId | None = None  # required for meter_check
    due_on: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None  # local date
    note: Annotated[str, Meta(max_length=1000, pattern=NO_NUL)] = ""


class TaskComplete(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    result: Annotated[str, Meta(min_length=1, max_length=4000, pattern=NO_NUL)]
    fix: GpsFix | None = None


class Task(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    status: str
    customer_id: int
    customer_number: str
    meter_id: str | None
    due_on: str | None
    note: str
    created_by: int | None
    created_at: int
    completed_by: int | None
    completed_at: int | None
    result: str


class CoverageItem(msgspec.Struct, kw_only=True):
    seq: int
    meter_id: str | None
    customer_number: str
    address: str
    reading_id: str | None = None
    read_at: int | None = None


class Coverage(msgspec.Struct, kw_only=True):
    """How a book was walked: what was missed (漏抄), out of order, far from its place."""

    book_id: int
    inspector_id: int
    cycle: str
    total: int
    read: int
    missed: list[CoverageItem]  # 漏抄: in the book, not read in the cycle
    out_of_order: list[CoverageItem]  # read out of route order (not on the longest in-order run)
    far_from_meter: list[CoverageItem]  # flagged far_from_meter
    first_read_at: int | None
    last_read_at: int | None
    time_spent_ms: int  # per local day, first to last reading, summed
    days: list[str]
    walked_m: int  # along the uploaded track on those days
