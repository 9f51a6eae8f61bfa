"""API Structs for work orders: one per operation. Bodies forbid unknown fields, so nobody can
send ``owner_id`` or ``satisfaction`` where the operation does not take it."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.field.readings.schemas import NO_NUL, RowId
from backend.servicedesk.workflow.models import OrderChannel, OrderKind
from backend.texts import Params

Text = Annotated[str, Meta(min_length=1, max_length=2000, pattern=NO_NUL)]
Short = Annotated[str, Meta(max_length=200, pattern=NO_NUL)]
Phone = Annotated[str, Meta(max_length=32, pattern=r"^[0-9+\- ]*$")]
Version = Annotated[int, Meta(ge=1)]
Satisfaction = Annotated[int, Meta(ge=1, le=5)]
Latitude = Annotated[float, Meta(ge=-90, le=90)]
Longitude = Annotated[float, Meta(ge=-180, le=180)]


class OrderIntake(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Staff take an order (phone, counter, WeChat, in the field). The taker owns it (首问)."""

    kind: OrderKind
    channel: OrderChannel
    description: Text
    customer_id: RowId | None = None
    account_id: RowId | None = None
    meter_id: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    contact_name: Annotated[str, Meta(max_length=100, pattern=NO_NUL)] = ""
    contact_phone: Phone = ""
    location: Short = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None


class OrderReport(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A customer reports from the app: their own account, where, what."""

    kind: Literal["fault", "complaint", "inquiry", "opinion", "appointment"] = "fault"
    description: Text
    account_id: RowId | None = None
    location: Short = ""
    latitude: Latitude | None = None
    longitude: Longitude | None = None
    # a photo the customer uploaded first (POST /api/servicedesk/photos)
    photo_sha256: Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")] | None = None


class OrderAdvance(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    version: Version  # the version the person saw: two people acting at once, one wins
    note: Annotated[str, Meta(max_length=500, pattern=NO_NUL)] = ""


class OrderTransfer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    version: Version
    to_user_id: RowId
    reason: Annotated[str, Meta(min_length=1, max_length=500, pattern=NO_NUL)]


class OrderDispatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    version: Version
    crew_id: RowId  # the crew leader's user (an inspector carrying the PDA)


class OrderClose(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    version: Version
    result: Text


class OrderReturnVisit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """回访: the operator calls the customer back and records what they said."""

    satisfaction: Satisfaction
    note: Annotated[str, Meta(max_length=1000, pattern=NO_NUL)] = ""


class OrderRating(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The customer rates a closed order from the app."""

    satisfaction: Satisfaction
    comment: Annotated[str, Meta(max_length=1000, pattern=NO_NUL)] = ""


class Person(msgspec.Struct, kw_only=True):
    id: int
    name: str
    role: str


class Order(msgspec.Struct, kw_only=True):
    id: int
    kind: OrderKind
    channel: OrderChannel
    status: Literal["open", "closed"]
    customer_id: int | None
    customer_name: str
    account_id: int | None
    meter_id: str | None
    transformer_area_id: int | None
    contact_name: str
    contact_phone: str
    location: str
    latitude: float | None
    longitude: float | None
    description: str
    owner: Person | None
    node: str
    node_role: str
    node_started_at: int
    node_due_at: int
    overdue: bool
    escalated: bool
    version: int
    crew: Person | None
    repair_job_id: int | None
    outage_id: int | None
    result: str
    closed_at: int | None
    first_contact_resolved: bool
    return_visit_at: int | None
    satisfaction: int | None
    rated_at: int | None
    created_at: int
    photo_sha256: str | None = None  # GET /api/servicedesk/orders/{id}/photo


class TimelineEntry(msgspec.Struct, kw_only=True):
    at: int
    code: str  # order.* — the PWA words it with params
    params: Params
    node: str
    actor: Person | None  # None: the workflow itself (a timeout)


class Step(msgspec.Struct, kw_only=True):
    node: str
    role: str
    started_at: int
    due_at: int
    finished_at: int | None
    outcome: str | None
    on_time: bool | None
    escalated: bool


class OrderDetail(msgspec.Struct, kw_only=True):
    order: Order
    steps: list[Step]
    timeline: list[TimelineEntry]


class OrderPage(msgspec.Struct, kw_only=True):
    items: list[Order]
    total: int


class AccountHit(msgspec.Struct, kw_only=True):
    id: int
    number: str


class CustomerHit(msgspec.Struct, kw_only=True):
    """Intake's customer search (by name, number, phone, address or account number)."""

    id: int
    number: str
    name: str
    phone: str
    address: str
    transformer_area_id: int | None
    accounts: list[AccountHit]
    open_orders: int


class SweepResult(msgspec.Struct, kw_only=True):
    advanced: int
    escalated: int
