"""API shapes of the prepaid engine: balance, ledger, notices, supply, arrears, the disconnect
queue and payment-to-restore times. Top-up input and receipt are ``topups.TopUpIn`` and
``topups.Receipt`` (the receipt is stored and replayed byte for byte)."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import TypeVar

import msgspec

from backend.commands.lifecycle import State
from backend.prepaid.models import EntryKind, NoticeChannel, NoticeKind, NoticeStatus
from backend.prepaid.policy import Decision
from backend.texts import Param
from protocols.contract import CommandKind

T = TypeVar("T")
_PATH = re.compile(r"at `\$\.([A-Za-z_][A-Za-z0-9_]*)")


class BodyError(ValueError):
    """A request body that does not decode strictly; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def decode_strict(raw: bytes, type_: type[T]) -> T:
    """Decode a JSON body with msgspec's strict rules: money is an integer, never ``"100"``,
    ``1e3``, ``1000.0`` or ``true`` (the framework's own conversion is lenient)."""
    try:
        return msgspec.json.decode(raw, type=type_, strict=True)
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = _PATH.search(text) or re.search(r"field `([^`]+)`", text)
        raise BodyError(found.group(1) if found else "body", text) from None
    except msgspec.DecodeError as exc:
        raise BodyError("body", str(exc)) from None


class BalanceOut(msgspec.Struct):
    account_id: int
    account_number: str
    balance_fen: int
    credit_limit_fen: int  # friendly credit: supply stays on down to minus this
    available_fen: int  # balance + credit limit
    average_daily_spend_fen: int  # spend per day at the recent rate (backend/prepaid/spend.py)
    days_left: float | None  # days of credit at that rate; None without recent charges
    low: bool  # below the warning threshold (amount or days)
    in_arrears: bool  # below zero (below minus the credit limit: disconnect threshold)
    as_of: datetime


class LedgerEntryOut(msgspec.Struct):
    id: int
    kind: EntryKind
    amount_fen: int  # + money in, - money out
    balance_after_fen: int
    memo: str  # as written: by staff, or (English) by the system
    reverses_id: int | None
    created_at: datetime
    memo_code: str | None = None  # a system memo as a code for people (ledger.MemoText)
    memo_params: dict[str, Param] = msgspec.field(default_factory=dict)


class LedgerPage(msgspec.Struct):
    items: list[LedgerEntryOut]  # newest first
    total: int
    limit: int
    offset: int


class NoticeOut(msgspec.Struct):
    id: int
    kind: NoticeKind
    channel: NoticeChannel
    text: str  # as sent, in the customer's language
    status: NoticeStatus
    planned_disconnect_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None
    code: str | None = None  # notices.NoticeText: the app words it in its own language
    params: dict[str, Param] = msgspec.field(default_factory=dict)


class NoticePage(msgspec.Struct):
    items: list[NoticeOut]  # newest first
    total: int
    limit: int
    offset: int


class SupplyState(enum.StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    READY_TO_RECONNECT = "ready_to_reconnect"  # 允许合闸: press the meter's button
    UNKNOWN = "unknown"  # not reported by the meter yet


class Action(enum.StrEnum):
    """What the customer should do now (the app words it in the customer's language)."""

    NONE = "none"
    TOP_UP = "top_up"  # pay at least amount_to_restore_fen (or to avoid a disconnect)
    PRESS_BUTTON = "press_button"  # the meter is armed: press its button
    WAIT = "wait"  # a reconnect is on its way
    CONTACT_SERVICE = "contact_service"  # off for a reason payment cannot fix: call 95598


class CommandRef(msgspec.Struct):
    id: str
    kind: CommandKind
    state: State
    created_at: datetime


class MeterSupply(msgspec.Struct):
    meter_pk: int
    meter_id: str
    relay_state: int | None  # 0 disconnected, 1 connected, 2 ready for reconnection
    supply: SupplyState
    pending_command: CommandRef | None


class SupplyOut(msgspec.Struct):
    account_id: int
    supply: SupplyState  # the worst of the account's meters
    action: Action
    message: str
    amount_to_restore_fen: int  # pay at least this much for supply to come back (0: nothing)
    planned_disconnect_at: datetime | None  # in arrears with supply on: earliest disconnect
    meters: list[MeterSupply]


class ArrearsItem(msgspec.Struct):
    account_id: int
    account_number: str
    customer_id: int
    customer_number: str
    customer_name: str
    phone: str
    grid_id: int | None
    protected: bool
    balance_fen: int
    credit_limit_fen: int
    supply: SupplyState
    episode_opened_at: datetime | None  # when the current warning episode began


class ArrearsPage(msgspec.Struct):
    items: list[ArrearsItem]  # most owed first
    total: int
    limit: int
    offset: int


class QueueItem(msgspec.Struct):
    account_id: int
    account_number: str
    customer_name: str
    balance_fen: int
    credit_limit_fen: int
    policy: Decision  # due now?, every rule's verdict in words, the earliest allowed time
    pending_commands: list[CommandRef]


class QueuePage(msgspec.Struct):
    items: list[QueueItem]
    total: int
    limit: int
    offset: int
    as_of: datetime


class RestoreTime(msgspec.Struct):
    command_id: str
    account_id: int | None
    meter_id: str
    kind: CommandKind  # reconnect (supply back) or arm_reconnect (ready for the button)
    state: State
    paid_at: datetime
    restored_at: datetime | None
    seconds: float | None


class RestoreTimes(msgspec.Struct):
    items: list[RestoreTime]  # newest payment first
    total: int
    limit: int
    offset: int
    restored: int  # of total, how many are restored
    median_s: float | None
    p90_s: float | None
    max_s: float | None
