"""API Structs for field readings, corrections, photos and flags: one Struct per operation.

Inputs forbid unknown fields (a typo is an error, and nobody can send ``received_at`` or
``inspector_id`` and have it stick); energy is integer Wh, times are UTC epoch milliseconds.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.texts import Param
from protocols.contract import ENERGY_QUANTITIES, Quantity

# registers a person can read off a meter: the cumulative energy ones (Wh, varh)
READABLE: frozenset[Quantity] = ENERGY_QUANTITIES
TOTAL = Quantity.ENERGY_IMPORT  # 正向有功总: required in every reading

EpochMs = Annotated[int, Meta(ge=946_684_800_000, le=4_102_444_800_000)]  # 2000 … 2100
Wh = Annotated[int, Meta(ge=0, le=10**13)]
Sha256 = Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
RowId = Annotated[int, Meta(ge=1, le=2**31 - 1)]  # fits every id column on both databases
NO_NUL = "^[^\x00]*$"  # PostgreSQL text cannot hold NUL: refuse it as bad input, not a 500
Text500 = Annotated[str, Meta(max_length=500, pattern=NO_NUL)]
Reason = Annotated[str, Meta(min_length=3, max_length=500, pattern=NO_NUL)]
Note1000 = Annotated[str, Meta(min_length=1, max_length=1000, pattern=NO_NUL)]
MeterId = Annotated[str, Meta(min_length=1, max_length=64, pattern=NO_NUL)]


class GpsFix(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    latitude: Annotated[float, Meta(ge=-90, le=90)]
    longitude: Annotated[float, Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, Meta(gt=0, le=100_000)]
    fix_at: EpochMs  # the GPS fix time (GeolocationPosition.timestamp)


class ReadingSubmit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A confirmed reading: the app's confirm step happened on the device before it was sent."""

    client_id: uuid.UUID  # made by the device; a resend carries the same id and body
    meter_id: MeterId
    registers: dict[str, Wh]  # quantity → Wh; energy_import required
    fix: GpsFix
    device_at: EpochMs  # the device clock when the inspector confirmed
    photo_sha256: Sha256 | None = None  # upload first: POST /api/field/photos
    note: Text500 = ""


class CorrectionSubmit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new record that corrects a confirmed reading; counts once a supervisor approves."""

    client_id: uuid.UUID
    corrects: uuid.UUID  # the client_id of the original reading
    registers: dict[str, Wh]  # the corrected values; quantities not named stay as they were
    reason: Reason
    device_at: EpochMs
    fix: GpsFix | None = None
    photo_sha256: Sha256 | None = None
    note: Text500 = ""


class DecisionSubmit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    approved: bool
    note: Text500 = ""


class FlagResolve(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Note1000


class Photo(msgspec.Struct, kw_only=True):
    sha256: str
    content_type: str
    size_bytes: int


class Flag(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    detail: str  # English, for logs; people read ``code`` with ``params`` (the PWA words it)
    code: str | None = None  # plausibility.FlagText; None on flags raised before codes
    params: dict[str, Param] = msgspec.field(default_factory=dict)
    status: Literal["open", "resolved"]
    reading_id: str
    meter_id: str
    inspector_id: int
    created_at: int
    resolved_by: int | None = None
    resolved_at: int | None = None
    resolution: str = ""


class Decision(msgspec.Struct, kw_only=True):
    approved: bool
    decided_by: int
    decided_at: int
    note: str


ReadingStatus = Literal["counted", "held", "pending_approval", "approved", "rejected"]


class FieldReading(msgspec.Struct, kw_only=True):
    """A reading or a correction as stored. ``status``: a reading is ``counted`` (it is in the
    readings and in billing) or ``held`` (stored, waiting for review before billing: see
    docs/prepaid.md, "Quarantine"); a correction is ``pending_approval``, ``approved`` or
    ``rejected``."""

    id: str  # the client_id
    kind: Literal["reading", "correction"]
    status: ReadingStatus
    meter_id: str
    customer_number: str | None
    inspector_id: int
    registers: dict[str, int]
    ts: int  # the reading's time in readings (the GPS fix time; the original's for a correction)
    fix: GpsFix | None
    device_at: int
    received_at: int
    photo_sha256: str | None
    note: str
    book_id: int | None
    corrects: str | None = None
    reason: str = ""
    decision: Decision | None = None
    flags: list[Flag] = msgspec.field(default_factory=list)


class CheckFlag(msgspec.Struct, kw_only=True):
    kind: str  # a FlagKind
    code: str  # check.*: the PWA words it with ``params``
    params: dict[str, Param] = msgspec.field(default_factory=dict)


class CheckHold(msgspec.Struct, kw_only=True):
    quantity: str  # the register that would wait for review before billing
    code: str  # quarantine.*: why
    params: dict[str, Param] = msgspec.field(default_factory=dict)


class ReadingCheck(msgspec.Struct, kw_only=True):
    """What submitting a reading would find, shown before the inspector confirms."""

    flags: list[CheckFlag]
    holds: list[CheckHold]


class ReadingHistory(msgspec.Struct, kw_only=True):
    """The original reading, every correction in order, and the values that count now."""

    original: FieldReading
    corrections: list[FieldReading]
    effective_registers: dict[str, int]
