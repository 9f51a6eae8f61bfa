"""API Structs for an order's follow-ups. Bodies forbid unknown fields."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.field.readings.schemas import NO_NUL

Reason = Annotated[str, Meta(min_length=1, max_length=500, pattern=NO_NUL)]


class OrderFieldTask(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A field task for the inspector of the customer's grid (it joins their reading book).
    ``kind`` by default: ``meter_check`` when the order names a meter, else
    ``customer_visit``; ``note`` by default the order's description. While the order's task is
    open, asking again answers that task (a double tap makes one)."""

    kind: Literal["meter_check", "customer_visit", "safety_inspection", "equipment_checkup"] | None = None  # fmt: skip  # noqa: E501
    due_on: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None  # local date
    note: Annotated[str, Meta(max_length=1000, pattern=NO_NUL)] = ""


class OrderCommand(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A reconnect or disconnect of the order's meter, ordered as ``POST /api/commands`` does:
    a disconnect waits for a second person's approval."""

    kind: Literal["reconnect", "disconnect"]
    reason: Reason
    override_reason: Reason | None = None
    id: Annotated[str, Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None  # fmt: skip  # noqa: E501


class FollowUp(msgspec.Struct, kw_only=True):
    order_id: int
    field_task_id: int | None = None
    command_id: str | None = None
    command_state: str | None = None  # awaiting_approval, queued, …
