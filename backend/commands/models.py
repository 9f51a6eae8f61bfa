"""Remote commands, their audit trail, and bulk batches awaiting a second operator."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from backend.commands.lifecycle import State
from backend.db import Base
from backend.types import UTCDateTime, str_enum, utcnow
from protocols.contract import CommandKind

BigId = BigInteger().with_variant(Integer, "sqlite")


class CommandBatch(Base):
    """A bulk order (e.g. disconnect a list of meters): nothing moves until a second operator,
    not the requester, approves it (four-eyes)."""

    __tablename__ = "command_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[CommandKind] = mapped_column(str_enum(CommandKind, 16))
    reason: Mapped[str] = mapped_column(String(500))
    requested_by: Mapped[str] = mapped_column(String(64))
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[str | None] = mapped_column(String(16))  # approved / rejected
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # the strictest approval any of its commands needs, and the requester's override reason
    approval: Mapped[str | None] = mapped_column(String(24))
    override_reason: Mapped[str | None] = mapped_column(String(500))


class Command(Base):
    __tablename__ = "commands"
    __table_args__ = (
        Index("ix_commands_state_not_after", "state", "not_after"),
        Index("ix_commands_meter_pk_created_at", "meter_pk", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # client-made, end to end
    meter_pk: Mapped[int] = mapped_column(ForeignKey("meters.id"))
    meter_id: Mapped[str] = mapped_column(String(64))  # the contract's meter id
    agent_id: Mapped[str | None] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id"), index=True)
    kind: Mapped[CommandKind] = mapped_column(str_enum(CommandKind, 16))
    state: Mapped[State] = mapped_column(str_enum(State, 24))
    reason: Mapped[str] = mapped_column(String(500))
    actor: Mapped[str] = mapped_column(String(64))  # who ordered it: a username or the engine
    approver: Mapped[str | None] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("command_batches.id"), index=True)
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    expected_relay_state: Mapped[int | None] = mapped_column(SmallInteger)
    readback_relay_state: Mapped[int | None] = mapped_column(SmallInteger)
    error: Mapped[str | None] = mapped_column(Text)
    # reason (when the engine wrote it) and error as codes for people (backend.texts)
    reason_code: Mapped[str | None] = mapped_column(String(48))
    reason_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_code: Mapped[str | None] = mapped_column(String(48))
    error_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # a reconnect after a top-up: when the money arrived, and when supply came back
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restored_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # a manual disconnect: the approval it needs (backend.commands.approval.Approval), the
    # disconnect policy's verdict when it was ordered (JSON), and the requester's override
    approval: Mapped[str | None] = mapped_column(String(24))
    verdict: Mapped[str | None] = mapped_column(Text)
    override_reason: Mapped[str | None] = mapped_column(String(500))
    # the failed command this one retries; unique, so two parallel retries make one command
    retry_of: Mapped[str | None] = mapped_column(ForeignKey("commands.id"), unique=True)


class CommandAudit(Base):
    """One row per transition (and per ack that changed nothing): who, when, from, to, why."""

    __tablename__ = "command_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    command_id: Mapped[str] = mapped_column(ForeignKey("commands.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str | None] = mapped_column(String(24))
    to_state: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
    # a person's own words with this move (the operator's reason, the approver's comment), shown
    # as they are; ``detail`` is English for the audit log
    note: Mapped[str | None] = mapped_column(String(500))
