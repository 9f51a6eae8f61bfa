"""API Structs for track uploads and the supervisor's replay of an inspector's day (R5)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.field.readings.schemas import EpochMs


class TrackPointIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    ts: EpochMs  # fix time
    latitude: Annotated[float, Meta(ge=-90, le=90)]
    longitude: Annotated[float, Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, Meta(gt=0, le=100_000)]


class TrackUpload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    points: Annotated[list[TrackPointIn], Meta(min_length=1, max_length=5000)]


class TrackUploaded(msgspec.Struct, kw_only=True):
    accepted: int  # new points stored
    duplicates: int  # points already stored (a resend): ignored, not an error


class PointEvent(msgspec.Struct, kw_only=True, tag="point"):
    ts: int
    latitude: float
    longitude: float
    accuracy_m: float


class ReadingEvent(msgspec.Struct, kw_only=True, tag="reading"):
    ts: int  # the fix time
    reading_id: str
    kind: Literal["reading", "correction"]
    meter_id: str
    customer_number: str | None
    address: str
    registers: dict[str, int]
    latitude: float
    longitude: float
    accuracy_m: float
    flags: list[str]


class Replay(msgspec.Struct, kw_only=True):
    """An inspector's local day as a timeline: track points and readings in time order."""

    inspector_id: int
    date: str
    timezone: str
    first_ts: int | None
    last_ts: int | None
    walked_m: int
    points: int
    readings: int
    timeline: list[PointEvent | ReadingEvent]
