"""One Struct per operation on an account change. Requests are a tagged union on ``kind``:
each kind carries only what it needs, and an unknown field is a 400 naming it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from backend.accounts.models import CustomerCategory
from backend.expansion.changes.models import ChangeKind, ChangeStatus, Settlement
from backend.field.readings.schemas import NO_NUL, RowId
from backend.texts import Param

Note = Annotated[str, Meta(max_length=500, pattern=NO_NUL)]


class CategoryChangeIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="category"
):
    """改类: the account is billed as ``category`` from ``effective_from`` (local midnight)."""

    account_id: RowId
    category: CustomerCategory
    effective_from: date
    note: Note = ""


class ClosureIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="closure"
):
    """销户: final bill, the credit refunded or moved to another account of the customer."""

    account_id: RowId
    settlement: Settlement = Settlement.REFUND
    transfer_to_account_id: RowId | None = None
    note: Note = ""


class OwnershipIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="ownership"
):
    """过户: the account (and its meter) passes to a new holder from ``effective_from``; the
    old holder's credit stays with the account (carry) or is refunded to them (refund)."""

    account_id: RowId
    holder_name: Annotated[str, Meta(min_length=1, max_length=100, pattern=NO_NUL)]
    holder_phone: Annotated[str, Meta(max_length=32, pattern=r"^[0-9+\- ]*$")] = ""
    effective_from: date
    settlement: Literal["carry", "refund"] = "carry"
    note: Note = ""


class NameChangeIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="name"
):
    """更名: the same holder's new name (a marriage, a company renamed) and the ID document it
    was checked against, from ``effective_from``; no change of ownership or of the ledger."""

    account_id: RowId
    holder_name: Annotated[str, Meta(min_length=1, max_length=100, pattern=NO_NUL)]
    id_document: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z\-]+$")]
    effective_from: date
    note: Note = ""


Kva = Annotated[int, Meta(ge=1, le=10_000_000)]


class CapacityIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="capacity"
):
    """增容/减容: the contracted kVA from ``effective_from``; a two-part tariff's capacity
    charge follows it, a month with a change charged by days."""

    account_id: RowId
    capacity_kva: Kva
    effective_from: date
    note: Note = ""


class SuspensionIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="suspension"
):
    """暂停: no capacity charge from ``effective_from`` to the day before ``until`` (the
    planned resume day); 15 to 180 days."""

    account_id: RowId
    effective_from: date
    until: date
    note: Note = ""


class ResumptionIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="resumption"
):
    """恢复: an applied suspension ends early; the capacity charge restarts on
    ``effective_from``."""

    account_id: RowId
    effective_from: date
    note: Note = ""


class MoveIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="move"
):
    """迁出/迁入: the customer leaves this account's address for ``address``: the old account
    gets its final reading and bill and is closed, its credit moved to the new address's new
    account (a pair of entries) or refunded."""

    account_id: RowId
    address: Annotated[str, Meta(min_length=1, max_length=200, pattern=NO_NUL)]
    settlement: Literal["transfer", "refund"] = "transfer"
    note: Note = ""


class TemporaryIn(
    msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="kind", tag="temporary"
):
    """临时用电: the account is supplied until ``until`` (its last day) and closed by the
    closure path the day after; a later one extends it (延期)."""

    account_id: RowId
    until: date
    note: Note = ""


ChangeIn = (
    CategoryChangeIn
    | ClosureIn
    | OwnershipIn
    | NameChangeIn
    | CapacityIn
    | SuspensionIn
    | ResumptionIn
    | MoveIn
    | TemporaryIn
)


class ChangeReject(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, Meta(min_length=1, max_length=500, pattern=NO_NUL)]


class Change(msgspec.Struct, kw_only=True):
    id: int
    account_id: int
    account_number: str
    kind: ChangeKind
    status: ChangeStatus
    effective_from: date
    before: dict[str, Param]
    after: dict[str, Param]
    note: str
    order_id: int
    requested_at: int  # UTC epoch ms
    decided_at: int | None
    reason: str  # a rejection's, as the operator wrote it


class ChangePage(msgspec.Struct, kw_only=True):
    items: list[Change]
    total: int


StatusFilter = Literal["requested", "applied", "rejected"]
