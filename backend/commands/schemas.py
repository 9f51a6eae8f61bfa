"""API shapes of remote commands: one Struct per operation, unknown fields refused on input."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from backend.commands.lifecycle import State
from backend.texts import Param
from protocols.contract import CommandKind

CommandId = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=500)]
MeterPk = Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
MAX_BATCH = 1000


class CommandCreate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One command for one meter. ``id`` is the client's own (a retry with the same id returns
    the same command); without it the server makes one."""

    meter_pk: MeterPk
    kind: CommandKind
    reason: Reason  # 原因: written to the audit trail and sent to the agent
    id: CommandId | None = None
    # a disconnect the policy blocks (or of a protected customer) is only ordered with this
    override_reason: Reason | None = None


class BatchCreate(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A bulk order. Bulk disconnects wait for a second operator's approval (four-eyes)."""

    meter_pks: Annotated[list[MeterPk], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
    kind: CommandKind
    reason: Reason
    override_reason: Reason | None = None  # needed when the policy blocks any of them


class CancelIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    reason: Reason


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    comment: Annotated[str, msgspec.Meta(max_length=500)] = ""
    # approving a disconnect the policy blocks: the approver says so explicitly, with a comment
    override: bool = False


class RetryIn(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Order a failed, expired or refused command again (a new command, same meter and kind)."""

    reason: Reason
    override_reason: Reason | None = None


class RuleVerdict(msgspec.Struct, frozen=True):
    rule: str  # arrears, protected, supply, warning, working_day, holiday_eve, hours, no_account
    ok: bool  # True: this rule allows the disconnect
    # what the rule says, for people: a ``policy.*`` code (prepaid.policy.PolicyText) and its
    # parameters, as in the disconnect queue
    code: str = ""
    params: dict[str, Param] = msgspec.field(default_factory=dict)


class Verdict(msgspec.Struct, frozen=True):
    """The disconnect policy's verdict as codes (the PWA words each rule's ``code`` with its
    ``params``): ``blocked_by`` lists the rules that do not allow it now."""

    due: bool
    blocked_by: list[str]
    protected: bool
    balance_fen: int | None
    next_allowed_at: datetime | None
    rules: list[RuleVerdict]


class Subject(msgspec.Struct):
    """Whose supply a command touches, for the approval card."""

    customer_name: str
    customer_number: str
    address: str
    account_number: str | None
    balance_fen: int | None
    owed_fen: int  # what the customer owes now (0 when the balance is not negative)


class CommandOut(msgspec.Struct):
    id: str
    meter_pk: int
    meter_id: str
    agent_id: str | None
    account_id: int | None
    kind: CommandKind
    state: State
    terminal: bool
    reason: str
    actor: str
    approver: str | None
    batch_id: int | None
    not_after: datetime
    expected_relay_state: int | None
    readback_relay_state: int | None
    error: str | None
    paid_at: datetime | None
    restored_at: datetime | None
    created_at: datetime
    updated_at: datetime
    approval: str  # none, four_eyes, override, supervisor_override
    verdict: Verdict | None  # the policy's verdict when it was ordered (disconnects)
    override_reason: str | None
    retry_of: str | None
    subject: Subject | None = None
    # for people: the engine's reason and the error as codes (service.CommandText); an
    # operator's reason is their own words and has no code
    reason_code: str | None = None
    reason_params: dict[str, Param] = msgspec.field(default_factory=dict)
    error_code: str | None = None
    error_params: dict[str, Param] = msgspec.field(default_factory=dict)


class CommandPage(msgspec.Struct):
    items: list[CommandOut]
    total: int
    limit: int
    offset: int


class AuditOut(msgspec.Struct):
    at: datetime
    actor: str
    event: str
    from_state: str | None
    to_state: str
    detail: str  # English, for the log
    note: str | None = None  # a person's own words: the reason, the approver's comment


class CommandDetail(msgspec.Struct):
    command: CommandOut
    audit: list[AuditOut]  # oldest first: the whole story of the command


class CommandStatus(msgspec.Struct):
    """The live status (long poll): answered as soon as the state differs from ``after``."""

    id: str
    state: State
    terminal: bool
    readback_relay_state: int | None
    error: str | None
    updated_at: datetime


class BatchOut(msgspec.Struct):
    id: int
    kind: CommandKind
    reason: str
    requested_by: str
    needs_approval: bool
    decision: str | None  # approved / rejected / not_required; None while awaiting approval
    decided_by: str | None
    decided_at: datetime | None
    created_at: datetime
    commands: list[CommandOut]
    approval: str  # the strictest any of its commands needs
    override_reason: str | None


class BatchPage(msgspec.Struct):
    items: list[BatchOut]
    total: int
    limit: int
    offset: int
