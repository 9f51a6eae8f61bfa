"""API Structs for held readings (quarantine): one per operation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from backend.texts import Text

Note = Annotated[str, Meta(min_length=1, max_length=1000, pattern="^[^\x00]*$")]


class HeldReading(msgspec.Struct):
    id: int
    meter_id: str
    quantity: str  # a contract Quantity code
    ts: int  # UTC epoch ms, the reading's acquisition time
    value: int  # in the quantity's unit (Wh for energy)
    source: str  # ami, backfill, field
    reason: Text  # why it is held: a quarantine.* code and its parameters
    status: str  # held, released, rejected
    held_at: int  # UTC epoch ms
    decided_by: int | None = None
    decided_at: datetime | None = None
    note: str | None = None


class HoldDecision(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Release (bill and count it) or reject (never) a held reading, saying why."""

    note: Note
