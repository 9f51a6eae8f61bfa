"""One msgspec Struct per operation of key accounts (HTTP inputs forbid unknown fields)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import msgspec

from backend.keyaccounts.models import DocumentKind, OrgType, TagSource, VisitStatus, VoltageLevel
from backend.texts import Params, TextCode

Short = Annotated[str, msgspec.Meta(max_length=100)]
Phone = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9+\- ()]*$")]
Kva = Annotated[int, msgspec.Meta(ge=0, le=10_000_000)]


class AlertCode(TextCode):
    """What needs the manager's attention (R94, R111); the PWA words each one."""

    CONSUMPTION_DROP = "alert.consumption_drop"  # {recent_wh} a day against usual {usual_wh}
    CONSUMPTION_JUMP = "alert.consumption_jump"  # the same, upwards
    ARREARS = "alert.arrears"  # {arrears_fen} owed
    OUTAGE = "alert.outage"  # an outage on the customer's transformer area since {since_at}
    CONTRACT_EXPIRING = "alert.contract_expiring"  # the supply contract ends on {expires_on}
    CUSTOMER_MESSAGE = "alert.customer_message"  # {count} unanswered messages
    OPEN_COMPLAINT = "alert.open_complaint"  # {count} open complaint orders, the first {since_at}


class Alert(msgspec.Struct, frozen=True):
    code: AlertCode
    params: Params


class ProfileIn(msgspec.Struct, forbid_unknown_fields=True):
    """A whole profile, saved over ``version`` (0 for the first): a stale version is a 409."""

    version: Annotated[int, msgspec.Meta(ge=0)]
    org_type: OrgType = OrgType.OTHER
    capacity_kva: Kva = 0
    new_capacity_kva: Kva = 0
    voltage_level: VoltageLevel | None = None
    # 国民经济行业分类 GB/T 4754-2017: a section letter and up to four digits
    industry_code: Annotated[str, msgspec.Meta(pattern=r"^([A-T](\d{2,4})?)?$")] = ""
    households: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0
    industrial_park: Short = ""
    important: bool = False
    technical_contact: Short = ""
    technical_phone: Phone = ""
    billing_contact: Short = ""
    billing_phone: Phone = ""
    contract_expires_on: date | None = None


class Profile(msgspec.Struct):
    customer_id: int
    version: int
    org_type: OrgType
    capacity_kva: int
    new_capacity_kva: int
    voltage_level: VoltageLevel | None
    industry_code: str
    households: int
    industrial_park: str
    important: bool
    technical_contact: str
    technical_phone: str
    billing_contact: str
    billing_phone: str
    contract_expires_on: date | None
    manager_id: int | None
    updated_by: str
    updated_at: datetime


class ProfileVersion(msgspec.Struct):
    version: int
    snapshot: dict[str, Any]
    changed_by: str
    changed_at: datetime


class ManagerAssign(msgspec.Struct, forbid_unknown_fields=True):
    manager_id: int | None


class Condition(msgspec.Struct, forbid_unknown_fields=True):
    field: Annotated[str, msgspec.Meta(max_length=32)]
    op: Annotated[str, msgspec.Meta(max_length=8)]
    value: (
        Annotated[str, msgspec.Meta(max_length=32)]
        | int
        | bool
        | Annotated[list[Annotated[str, msgspec.Meta(max_length=32)]], msgspec.Meta(max_length=16)]
    )


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    conditions: Annotated[list[Condition], msgspec.Meta(max_length=8)]
    active: bool = True


class Rule(msgspec.Struct):
    klass: int
    conditions: list[Condition]
    active: bool
    updated_by: str


class SettingsIn(msgspec.Struct, forbid_unknown_fields=True):
    """ABC shares in basis points of annual revenue; alert windows and percentages."""

    a_share_bp: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    b_share_bp: Annotated[int, msgspec.Meta(ge=1, le=10_000)]
    recent_days: Annotated[int, msgspec.Meta(ge=1, le=31)] = 7
    baseline_days: Annotated[int, msgspec.Meta(ge=7, le=365)] = 56
    min_baseline_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 14
    drop_pct: Annotated[int, msgspec.Meta(ge=1, le=100)] = 40
    jump_pct: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 60
    contract_warning_days: Annotated[int, msgspec.Meta(ge=0, le=365)] = 60


class SegmentationSettings(SettingsIn):
    pass


class Recomputed(msgspec.Struct):
    customers: int
    a: int
    b: int
    c: int
    key_accounts: int


class Segment(msgspec.Struct):
    abc_class: str
    annual_revenue_fen: int
    credit_score: int
    credit_rating: str
    credit_inputs: dict[str, Any]
    computed_at: datetime
    service_level: str = "standard"  # vip, priority, standard (R96, R99, R100)


class PortfolioItem(msgspec.Struct):
    customer_id: int
    number: str
    name: str
    grid_id: int | None
    key_account_classes: list[int]
    abc_class: str | None
    credit_rating: str | None
    manager_id: int | None
    alerts: list[Alert]
    tags: list[str] = []  # computed codes (``tag.*`` in the app) and manual labels
    service_level: str | None = None


class PortfolioPage(msgspec.Struct):
    items: list[PortfolioItem]
    total: int


class VisitIn(msgspec.Struct, forbid_unknown_fields=True):
    client_id: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-fA-F-]{8,36}$")]
    customer_id: int
    planned_for: date
    purpose: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class CheckIn(msgspec.Struct, forbid_unknown_fields=True):
    latitude: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    longitude: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=10_000)]


class VisitOut(msgspec.Struct):
    id: int
    client_id: str
    customer_id: int
    customer_name: str
    manager_id: int
    planned_for: date
    purpose: str
    status: VisitStatus
    checked_in_at: datetime | None
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    distance_m: int | None


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class NoteOut(msgspec.Struct):
    id: int
    customer_id: int
    author: str
    from_customer: bool
    text: str
    answered: bool
    created_at: datetime


class ManagerOut(msgspec.Struct):
    user_id: int
    display_name: str
    phone: str
    kind: str  # "key_account" (the named manager) or "grid"


class AccountLine(msgspec.Struct):
    id: int
    number: str
    kind: str
    balance_fen: int


class MeterLine(msgspec.Struct):
    id: int
    meter_id: str
    status: str
    online: bool


class DayWh(msgspec.Struct):
    day: date
    wh: int


class CustomerLine(msgspec.Struct):
    id: int
    number: str
    name: str
    phone: str
    address: str
    category: str
    grid_id: int | None
    latitude: float | None
    longitude: float | None


class OrderLine(msgspec.Struct):
    """One of the customer's 95598 work orders (docs/servicedesk.md), newest first."""

    id: int
    kind: str
    status: str
    created_at: int  # epoch ms
    closed_at: int | None


class Customer360(msgspec.Struct):
    customer: CustomerLine
    profile: Profile | None
    key_account_classes: list[int]
    segment: Segment | None
    managers: list[ManagerOut]
    accounts: list[AccountLine]
    arrears_fen: int
    meters: list[MeterLine]
    trend: list[DayWh]  # energy_import per local day, the last 30 days and today
    alerts: list[Alert]
    visits: list[VisitOut]
    notes: list[NoteOut]
    work_orders: list[OrderLine] = []  # the last 20
    tags: list[TagOut] = []


# a manager's own label: 1–32 characters, no control characters, no spaces at either end
LABEL = r"^[^\s\x00-\x1f](?:[^\x00-\x1f]*[^\s\x00-\x1f])?$"
TagLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=LABEL)]


class TagIn(msgspec.Struct, forbid_unknown_fields=True):
    tag: TagLabel


class TagOut(msgspec.Struct):
    tag: str
    source: TagSource  # computed (a code the app words) or manual (the manager's label)
    added_by: str
    added_at: datetime


class TagEventOut(msgspec.Struct):
    tag: str
    source: TagSource
    added: bool  # False: removed
    actor: str
    at: datetime


class CustomerTags(msgspec.Struct):
    tags: list[TagOut]
    history: list[TagEventOut]  # newest first


class MonthRun(msgspec.Struct):
    month: str  # YYYY-MM: computed as of the first instant of the next month
    result: Recomputed
    tags_added: int
    tags_removed: int


class OrgNode(msgspec.Struct):
    """A unit of the organisation tree (province, city, district) or a grid, with what is below
    it in the caller's view: grids, customers, key accounts (R110)."""

    key: str  # "unit:{id}" or "grid:{id}"
    parent: str | None
    level: str  # province, city, district, grid
    code: str
    name: str
    manager: str | None  # a grid's manager
    grids: int
    customers: int
    key_accounts: int


class DocumentOut(msgspec.Struct):
    id: int
    customer_id: int
    kind: DocumentKind
    title: str
    content_type: str  # application/pdf, image/jpeg, image/png, image/webp
    size_bytes: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
