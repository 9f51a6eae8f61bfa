"""API Structs for repair jobs (R50–R51) and outage notices."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.field.readings.schemas import NO_NUL, EpochMs, GpsFix, RowId

Name = Annotated[str, Meta(min_length=1, max_length=50, pattern=NO_NUL)]
Area = Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]


class RepairJobReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What the crew enters on arriving: who, what, since when, until when, and where."""

    client_id: uuid.UUID  # made by the PDA: resending is safe
    workers: Annotated[list[Name], Meta(min_length=1, max_length=20)]
    content: Annotated[str, Meta(min_length=1, max_length=2000, pattern=NO_NUL)]
    area: Area  # e.g. 文三路 12 号台区
    transformer_area_id: RowId | None = None
    started_at: EpochMs
    expected_finish_at: EpochMs
    fix: GpsFix
    work_order_id: RowId | None = None  # the fault order this crew was dispatched to


class RepairJobFinish(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    finished_at: EpochMs
    note: Annotated[str, Meta(max_length=2000, pattern=NO_NUL)] = ""


class RepairJobExtend(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    expected_finish_at: EpochMs


class RepairJob(msgspec.Struct, kw_only=True):
    id: int
    client_id: str
    status: Literal["active", "overdue", "finished"]
    reported_by: int
    workers: list[str]
    content: str
    area: str
    transformer_area_id: int | None
    started_at: int
    expected_finish_at: int
    finished_at: int | None
    finish_note: str
    fix: GpsFix
    received_at: int
    work_order_id: int | None = None


class OutageCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Literal["planned", "unplanned"]
    area: Area
    transformer_area_id: RowId | None = None
    starts_at: EpochMs
    expected_end_at: EpochMs
    reason: Annotated[str, Meta(min_length=1, max_length=1000, pattern=NO_NUL)]
    repair_job_id: RowId | None = None


class OutageEnd(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ended_at: EpochMs


class Outage(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    status: Literal["upcoming", "ongoing", "ended", "cancelled"]
    area: str
    transformer_area_id: int | None
    starts_at: int
    expected_end_at: int
    ended_at: int | None
    reason: str
    repair_job_id: int | None
