"""One Struct per operation on applications for supply. Requests forbid unknown fields: a fee,
a step or a status can never be sent and stick (fees come from the published table only)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from backend.accounts.models import CustomerCategory
from backend.expansion.models import ApplicationKind, DocumentKind, SupplyType, WithdrawalReason
from backend.field.readings.schemas import GpsFix, Sha256
from backend.texts import Params

Name = Annotated[str, Meta(min_length=1, max_length=100)]
Phone = Annotated[str, Meta(pattern=r"^[0-9+\- ]{5,32}$")]
Address = Annotated[str, Meta(min_length=1, max_length=200)]
StepKey = Annotated[str, Meta(pattern=r"^[a-z][a-z_]{0,31}$")]
Version = Annotated[int, Meta(ge=1, le=2**31 - 1)]
DbId = Annotated[int, Meta(ge=1, le=2**31 - 1)]
MeterId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]


class ApplicationCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An application: the customer's own from the app, or staff's for a person at the counter
    (operators) or on site (a customer manager)."""

    supply_type: SupplyType
    kind: ApplicationKind = ApplicationKind.NEW
    category: CustomerCategory
    applicant_name: Name
    phone: Phone
    address: Address
    capacity_kva: Annotated[int, Meta(ge=1, le=1_000_000)]
    customer_id: DbId | None = None  # staff: the existing customer (增容, or a key account)
    transformer_area_id: DbId | None = None  # where it will be supplied, when known


class StepMove(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Mark the current step done. ``step`` and ``version`` are what the caller saw: if someone
    moved it meanwhile the move is refused (409), never applied twice."""

    step: StepKey
    version: Version


class Withdrawal(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """撤回 before energisation: ``version`` is what the caller saw (a step moved meanwhile is
    a 409, so a withdrawal and a move never both happen), ``reason`` a code."""

    version: Version
    reason: WithdrawalReason


class SurveyRecord(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """现场勘查 done on site: where (the GPS fix) and the photos (uploaded first as field photos,
    ``POST /api/field/photos``)."""

    version: Version
    fix: GpsFix
    photos: Annotated[list[Sha256], Meta(min_length=1, max_length=10)]
    note: Annotated[str, Meta(max_length=1000)] = ""


class Energise(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """送电: the installed meter and where it hangs. Creates the customer, account, tariff
    assignment, meter and placement in one transaction; energising again creates nothing."""

    version: Version
    meter_id: MeterId  # the id the agent publishes it under
    protocol: Annotated[str, Meta(pattern="^(dlt645|dlt698|modbus|manual)$")]
    address: Annotated[str, Meta(max_length=64)] = ""
    agent_id: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    transformer_area_id: DbId | None = None  # default: the application's
    schedule: Annotated[str, Meta(min_length=1, max_length=64)] | None = None  # default: category


class Document(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kind: DocumentKind
    sha256: str
    content_type: str
    size_bytes: int
    uploaded_at: int


class StepView(msgspec.Struct, frozen=True, kw_only=True):
    """A step of the application's process: its commitment, and when it ran."""

    key: str
    role: str
    deadline: int  # the published limit (the green channel's when it applies)
    unit: str
    started_at: int | None = None
    due_at: int | None = None
    finished_at: int | None = None
    on_time: bool | None = None  # None: not finished yet


class Entry(msgspec.Struct, frozen=True, kw_only=True):
    at: int
    code: str
    step: str
    actor_id: int | None
    params: Params


class FeeLineView(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    capacity_kva: int
    per_kva_fen: int
    fixed_fen: int
    amount_fen: int


class ApplicationView(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    number: str
    supply_type: SupplyType
    kind: ApplicationKind
    channel: str
    status: str
    category: str
    applicant_name: str
    phone: str
    address: str
    capacity_kva: int
    green_channel: bool
    step: str
    step_due_at: int
    overdue: bool
    version: int
    customer_id: int | None
    transformer_area_id: int | None
    created_at: int
    missing_documents: list[str]
    documents: list[Document]
    steps: list[StepView]
    fee_lines: list[FeeLineView]
    fees_fen: int
    survey_photos: list[str]
    account_id: int | None
    meter_id: str
    energised_at: int | None
    timeline: list[Entry]


class ApplicationRow(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    number: str
    supply_type: SupplyType
    kind: ApplicationKind
    status: str
    applicant_name: str
    green_channel: bool
    step: str
    step_due_at: int
    overdue: bool
    version: int
    missing_documents: list[str]
    created_at: int


class ApplicationPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ApplicationRow]
    total: int


class StepFigure(msgspec.Struct, frozen=True, kw_only=True):
    supply_type: SupplyType
    step: str
    finished: int
    on_time: int
    on_time_rate: float | None  # on_time / finished; None when nothing finished
    mean_lead_ms: int | None  # mean time spent in the step (clock time)


class TypeFigure(msgspec.Struct, frozen=True, kw_only=True):
    supply_type: SupplyType
    applications: int
    energised: int
    mean_to_energise_ms: int | None  # application to energisation (the figure utilities publish)
    steps_finished: int
    steps_on_time: int
    on_time_rate: float | None


class Indicators(msgspec.Struct, frozen=True, kw_only=True):
    from_ms: int
    to_ms: int
    types: list[TypeFigure]
    steps: list[StepFigure]
