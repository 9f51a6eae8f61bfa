"""The read side of commands for the API: lists, detail with the audit trail, live status.

Commands are back-office objects (the routes admit operators and supervisors only), so these
queries need no owner scope; customers learn about their supply through
``backend.prepaid.service.supply``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from backend.accounts.models import Account, Customer
from backend.commands.approval import decode_verdict
from backend.commands.lifecycle import TERMINAL, State
from backend.commands.models import Command, CommandAudit, CommandBatch
from backend.commands.schemas import (
    AuditOut,
    BatchOut,
    CommandDetail,
    CommandOut,
    CommandStatus,
    Subject,
)
from backend.commands.service import NOT_REQUIRED
from backend.errors import ErrorCode as E
from backend.errors import NotFound
from backend.metering.models import Meter
from backend.paging import fetch_page
from protocols.contract import CommandKind

STATUS_POLL_S = 0.2  # how often a waiting status request looks at the table


def command_out(c: Command, subject: Subject | None = None) -> CommandOut:
    return CommandOut(
        id=c.id, meter_pk=c.meter_pk, meter_id=c.meter_id, agent_id=c.agent_id,
        account_id=c.account_id, kind=c.kind, state=c.state, terminal=c.state in TERMINAL,
        reason=c.reason, actor=c.actor, approver=c.approver, batch_id=c.batch_id,
        not_after=c.not_after, expected_relay_state=c.expected_relay_state,
        readback_relay_state=c.readback_relay_state, error=c.error, paid_at=c.paid_at,
        restored_at=c.restored_at, created_at=c.created_at, updated_at=c.updated_at,
        reason_code=c.reason_code, reason_params=c.reason_params or {},
        error_code=c.error_code, error_params=c.error_params or {},
        approval=c.approval or "none", verdict=decode_verdict(c.verdict),
        override_reason=c.override_reason, retry_of=c.retry_of, subject=subject,
    )  # fmt: skip


async def subjects(session: AsyncSession, commands: Sequence[Command]) -> dict[str, Subject]:
    """Whose supply each command touches (customer, address, account, what they owe now), in
    one query for a whole page."""
    if not commands:
        return {}
    rows = await session.execute(
        select(Command.id, Customer.name, Customer.number, Customer.address, Account.number,
               Account.balance_fen)
        .join(Meter, Meter.id == Command.meter_pk)
        .join(Customer, Customer.id == Meter.customer_id)
        .outerjoin(Account, Account.id == Command.account_id)
        .where(Command.id.in_([c.id for c in commands]))
    )  # fmt: skip
    return {
        cid: Subject(name, number, address, account, balance,
                     max(0, -balance) if balance is not None else 0)
        for cid, name, number, address, account, balance in rows
    }  # fmt: skip


async def commands_out(session: AsyncSession, commands: Sequence[Command]) -> list[CommandOut]:
    found = await subjects(session, commands)
    return [command_out(c, found.get(c.id)) for c in commands]


async def get_command(session: AsyncSession, command_id: str) -> Command:
    c = await session.get(Command, command_id, populate_existing=True)
    if c is None:
        raise NotFound(E.COMMAND_NOT_FOUND, f"command {command_id} not found", command=command_id)
    return c


async def list_commands(
    session: AsyncSession,
    *,
    state: State | None,
    kind: CommandKind | None,
    meter_pk: int | None,
    account_id: int | None,
    batch_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[CommandOut], int]:
    conds: list[ColumnElement[bool]] = []
    if state is not None:
        conds.append(Command.state == state)
    if kind is not None:
        conds.append(Command.kind == kind)
    if meter_pk is not None:
        conds.append(Command.meter_pk == meter_pk)
    if account_id is not None:
        conds.append(Command.account_id == account_id)
    if batch_id is not None:
        conds.append(Command.batch_id == batch_id)
    stmt = select(Command).where(*conds).order_by(Command.created_at.desc(), Command.id)
    rows, total = await fetch_page(session, stmt, limit, offset)
    return await commands_out(session, [r[0] for r in rows]), total


async def detail(session: AsyncSession, command_id: str) -> CommandDetail:
    c = await get_command(session, command_id)
    audit = await session.scalars(
        select(CommandAudit)
        .where(CommandAudit.command_id == c.id)
        .order_by(CommandAudit.at, CommandAudit.id)
    )
    return CommandDetail(
        command=(await commands_out(session, [c]))[0],
        audit=[
            AuditOut(a.at, a.actor, a.event, a.from_state, a.to_state, a.detail, a.note)
            for a in audit
        ],
    )


def _status(c: Command) -> CommandStatus:
    return CommandStatus(
        id=c.id, state=c.state, terminal=c.state in TERMINAL,
        readback_relay_state=c.readback_relay_state, error=c.error, updated_at=c.updated_at,
    )  # fmt: skip


async def wait_status(
    session: AsyncSession, command_id: str, after: State | None, wait: timedelta
) -> CommandStatus:
    """The command's status once it is no longer ``after`` (at once when ``after`` is None or
    already left), or its current status when ``wait`` runs out. Each look is its own short
    read transaction, so commits by the dispatcher (any process) are seen."""
    deadline = time.monotonic() + wait.total_seconds()
    while True:
        c = await get_command(session, command_id)
        status = _status(c)
        await session.rollback()  # end the read: the next look sees new commits
        if after is None or status.state is not after or time.monotonic() >= deadline:
            return status
        await asyncio.sleep(min(STATUS_POLL_S, max(0.0, deadline - time.monotonic())))


async def batch_out(session: AsyncSession, batch: CommandBatch) -> BatchOut:
    commands = (
        await session.scalars(
            select(Command).where(Command.batch_id == batch.id).order_by(Command.meter_id)
        )
    ).all()
    return BatchOut(
        id=batch.id, kind=batch.kind, reason=batch.reason, requested_by=batch.requested_by,
        needs_approval=batch.decision != NOT_REQUIRED, decision=batch.decision,
        decided_by=batch.decided_by, decided_at=batch.decided_at, created_at=batch.created_at,
        commands=await commands_out(session, commands), approval=batch.approval or "none",
        override_reason=batch.override_reason,
    )  # fmt: skip


async def get_batch(session: AsyncSession, batch_id: int) -> CommandBatch:
    batch = await session.get(CommandBatch, batch_id, populate_existing=True)
    if batch is None:
        raise NotFound(E.BATCH_NOT_FOUND, f"command batch {batch_id} not found", batch=batch_id)
    return batch


async def list_batches(
    session: AsyncSession, *, awaiting_approval: bool | None, limit: int, offset: int
) -> tuple[list[BatchOut], int]:
    stmt = select(CommandBatch).order_by(CommandBatch.created_at.desc(), CommandBatch.id.desc())
    if awaiting_approval is True:
        stmt = stmt.where(CommandBatch.decision.is_(None))
    elif awaiting_approval is False:
        stmt = stmt.where(CommandBatch.decision.is_not(None))
    rows, total = await fetch_page(session, stmt, limit, offset)
    return [await batch_out(session, r[0]) for r in rows], total
