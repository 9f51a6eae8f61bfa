"""The process book (``process.toml``) and the fee table (``fees.toml``), loaded and checked.
Pure: no clock, no database. Deadlines are counted by the work-order engine's working time
(:class:`backend.servicedesk.workflow.service.WorkingTime`), so one working day and one
holiday calendar rule both."""

from __future__ import annotations

import functools
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec
from msgspec import Meta

from backend.accounts.models import AccountKind, CustomerCategory
from backend.auth.models import Role
from backend.expansion.models import DocumentKind, SupplyType
from backend.servicedesk.workflow.models import DeadlineUnit, TimeoutAction
from backend.servicedesk.workflow.schemas import Node
from backend.servicedesk.workflow.service import WorkingTime

HERE = Path(__file__).parent
_T = TypeVar("_T")
Key = Annotated[str, Meta(pattern=r"^[a-z][a-z_]{0,31}$")]
STEPS = (
    "acceptance",
    "survey",
    "plan",
    "design_review",
    "mid_inspection",
    "completion",
    "contract",
    "fees",
    "install",
    "energise",
)


class ProcessError(ValueError):
    """A process book or fee table that cannot be used (named in the message)."""


class Step(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    key: Key
    role: Role
    deadline: Annotated[int, Meta(ge=1, le=1000)]
    unit: DeadlineUnit
    green: Annotated[int, Meta(ge=1, le=1000)]  # the green channel's deadline, same unit


class Process(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    type: SupplyType
    account: AccountKind
    categories: list[CustomerCategory]
    documents: list[DocumentKind]
    steps: list[Step]

    def step(self, key: str) -> Step:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)

    def after(self, key: str) -> Step | None:
        keys = [s.key for s in self.steps]
        i = keys.index(key)
        return self.steps[i + 1] if i + 1 < len(keys) else None


class Book(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    types: list[Process]

    def of(self, supply_type: SupplyType) -> Process:
        for p in self.types:
            if p.type is supply_type:
                return p
        raise KeyError(supply_type)


class Fee(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    type: SupplyType
    code: Key
    per_kva_fen: Annotated[int, Meta(ge=0)] = 0
    fixed_fen: Annotated[int, Meta(ge=0)] = 0


class FeeTable(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    fees: list[Fee] = []


class FeeLine(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    capacity_kva: int
    per_kva_fen: int
    fixed_fen: int
    amount_fen: int


def _load(path: Path, kind: type[_T]) -> _T:
    try:
        return msgspec.convert(tomllib.loads(path.read_text(encoding="utf-8")), kind)
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise ProcessError(f"{path}: {exc}") from None


def load_book(path: Path = HERE / "process.toml") -> Book:
    book = _load(path, Book)
    if sorted(p.type for p in book.types) != sorted(SupplyType):
        raise ProcessError("every supply type needs exactly one process")
    for p in book.types:
        keys = [s.key for s in p.steps]
        if keys[0] != "acceptance" or keys[-1] != "energise" or len(set(keys)) != len(keys):
            raise ProcessError(f"{p.type}: steps run from acceptance to energise, once each")
        if not set(keys) <= set(STEPS) or keys != sorted(keys, key=STEPS.index):
            raise ProcessError(f"{p.type}: steps must be among {STEPS}, in that order")
        if any(s.green > s.deadline for s in p.steps):
            raise ProcessError(f"{p.type}: a green-channel deadline is never longer")
    return book


def load_fees(path: Path = HERE / "fees.toml") -> FeeTable:
    return _load(path, FeeTable)


@functools.cache
def shipped_book() -> Book:
    return load_book()


@functools.cache
def shipped_fees() -> FeeTable:
    return load_fees()


def fee_lines(table: FeeTable, supply_type: SupplyType, capacity_kva: int) -> list[FeeLine]:
    """The fees an application owes by the table: integer fen, exact (no rounding needed)."""
    return [
        FeeLine(
            code=f.code,
            capacity_kva=capacity_kva,
            per_kva_fen=f.per_kva_fen,
            fixed_fen=f.fixed_fen,
            amount_fen=f.per_kva_fen * capacity_kva + f.fixed_fen,
        )
        for f in table.fees
        if f.type is supply_type
    ]


def due(wt: WorkingTime, step: Step, start: datetime, green: bool) -> datetime:
    """When ``step``, entered at ``start``, must be done (the green channel's shorter limit for
    a key account)."""
    node = Node(
        key=step.key,
        role=step.role,
        deadline=step.green if green else step.deadline,
        unit=step.unit,
        on_timeout=TimeoutAction.ESCALATE,
    )
    return wt.due(node, start)
