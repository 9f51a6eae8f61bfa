"""Ordering commands and deciding on them: every manual disconnect through the disconnect
policy (``approval``), every decision a compare-and-set on its row.

Two operators deciding at the same moment: each decision is ``UPDATE … WHERE state =
'awaiting_approval'`` (a batch: ``WHERE decision IS NULL``) and checks the row count, so exactly
one wins and the other gets :class:`service.CommandChanged` (409), whatever the database.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from backend.auth.models import Role
from backend.commands import service
from backend.commands.approval import (
    SUPERVISORS,
    Approval,
    decode_verdict,
    encode_verdict,
    required,
    stricter,
    verdict_of,
)
from backend.commands.lifecycle import Event, State
from backend.commands.models import Command, CommandBatch
from backend.commands.schemas import Verdict
from backend.errors import ErrorCode as E
from backend.errors import Invalid, NotFound
from backend.metering.models import Meter
from backend.settings import Settings
from backend.types import utcnow
from protocols.contract import CommandKind

NOT_REQUIRED = service.NOT_REQUIRED
RETRYABLE = frozenset({State.FAILED, State.EXPIRED, State.REFUSED})


class OverrideRequired(service.CommandRefused):
    """The policy blocks this disconnect: it needs an explicit override (409). ``meters``
    names the meters it blocks, ``blocked_by`` the rules (``arrears``, ``warning``, …)."""


class Context:
    """What a decision needs to know about the world: settings and the policy's clock."""

    def __init__(self, settings: Settings, now: datetime | None = None) -> None:
        self.settings = settings
        self.now = now or utcnow()
        self.ttl = timedelta(minutes=settings.command_ttl_minutes)


async def _gate(
    session: AsyncSession, meters: list[Meter], kind: CommandKind, ctx: Context,
    override_reason: str | None,
) -> tuple[Approval, dict[int, tuple[Approval, Verdict]]]:  # fmt: skip
    """The approval each disconnect needs; refuses (OverrideRequired) when one needs an
    override and the requester gave no reason for it."""
    if kind is not CommandKind.DISCONNECT:
        return Approval.NONE, {}
    found = {m.id: await verdict_of(session, m, ctx.settings, ctx.now) for m in meters}
    needs = {pk: (required(v), v) for pk, v in found.items()}
    overall = Approval.FOUR_EYES
    for level, _v in needs.values():
        overall = stricter(overall, level)
    if overall.is_override and not (override_reason or "").strip():
        blocked = {
            m.meter_id: needs[m.id][1].blocked_by for m in meters if needs[m.id][0].is_override
        }
        which = "; ".join(f"{k}: {', '.join(v)}" for k, v in sorted(blocked.items()))
        code = (
            E.OVERRIDE_REQUIRED if overall is Approval.OVERRIDE else E.SUPERVISOR_OVERRIDE_REQUIRED
        )
        raise OverrideRequired(
            code,
            f"the disconnect policy does not allow this now ({which}): order it with an "
            "override_reason, and a second person must approve the override",
            field="override_reason",
            meters=", ".join(sorted(blocked)),
            blocked_by=", ".join(sorted({r for rules in blocked.values() for r in rules})),
        )
    return overall, needs


async def order(
    session: AsyncSession, meter: Meter, kind: CommandKind, *, reason: str, actor: str,
    ctx: Context, command_id: str | None = None, override_reason: str | None = None,
    retry_of: str | None = None,
) -> Command:  # fmt: skip
    """One manual command. A disconnect waits for approval (four-eyes, or an override)."""
    if command_id is not None:
        existing = await session.get(Command, command_id)
        if existing is not None:  # a client retry with the same id: the same command
            return existing
    overall, needs = await _gate(session, [meter], kind, ctx, override_reason)
    verdict = needs[meter.id][1] if needs else None
    return await service.create(
        session, meter, kind, reason=reason, actor=actor, ttl=ctx.ttl,
        needs_approval=overall is not Approval.NONE, command_id=command_id,
        approval=overall.value, verdict=encode_verdict(verdict) if verdict else None,
        override_reason=override_reason.strip() if override_reason and overall.is_override
        else None, retry_of=retry_of,
    )  # fmt: skip


async def order_batch(
    session: AsyncSession, meters: list[Meter], kind: CommandKind, *, reason: str, actor: str,
    ctx: Context, override_reason: str | None = None,
) -> tuple[CommandBatch, list[Command]]:  # fmt: skip
    """A bulk order, all or nothing. Disconnects wait for approval of the whole batch, at the
    strictest level any of them needs; other kinds go out at once."""
    if len({m.id for m in meters}) != len(meters):
        raise Invalid(E.METER_LISTED_TWICE, "a meter is listed twice", field="meter_pks")
    overall, needs = await _gate(session, meters, kind, ctx, override_reason)
    wait = overall is not Approval.NONE
    kept = override_reason.strip() if override_reason and overall.is_override else None
    batch = CommandBatch(
        kind=kind, reason=reason.strip(), requested_by=actor, created_at=utcnow(),
        decision=None if wait else NOT_REQUIRED, approval=overall.value, override_reason=kept,
    )  # fmt: skip
    session.add(batch)
    await session.flush()
    commands = []
    for m in meters:
        level, verdict = needs.get(m.id, (Approval.NONE, None))
        c = await service.create(
            session, m, kind, reason=reason, actor=actor, ttl=ctx.ttl, needs_approval=wait,
            batch_id=batch.id, approval=level.value if wait else Approval.NONE.value,
            verdict=encode_verdict(verdict) if verdict else None,
            override_reason=kept if level.is_override else None,
        )  # fmt: skip
        commands.append(c)
    return batch, commands


async def _now_needed(session: AsyncSession, c: Command, ctx: Context) -> Approval:
    """The stricter of the approval at order time and the one the policy asks for now."""
    stored = Approval(c.approval or Approval.FOUR_EYES.value)
    if c.kind is not CommandKind.DISCONNECT:
        return stored
    meter = await session.get(Meter, c.meter_pk)
    if meter is None:
        return stored
    return stricter(stored, required(await verdict_of(session, meter, ctx.settings, ctx.now)))


def _may_decide(
    level: Approval, requester: str, approver: str, role: Role, approve: bool, override: bool,
    comment: str, meters: list[str],
) -> None:  # fmt: skip
    if approver == requester:
        raise service.FourEyes(
            E.FOUR_EYES, "four-eyes rule: a second person must decide this, not the requester"
        )
    if not approve:
        return
    if level.is_override and not (override and len(comment.strip()) >= 3):
        raise OverrideRequired(
            E.OVERRIDE_REQUIRED,
            "the disconnect policy blocks this: approve it only as an explicit override "
            "(override: true) with a comment saying why",
            field="override",
            meters=", ".join(sorted(meters)),
        )
    if level is Approval.SUPERVISOR_OVERRIDE and role not in SUPERVISORS:
        raise service.FourEyes(
            E.SUPERVISOR_REQUIRED,
            "a protected customer's disconnect needs a supervisor's override",
        )


async def decide_command(
    session: AsyncSession, command_id: str, approver: str, role: Role, *, approve: bool,
    ctx: Context, comment: str = "", override: bool = False,
) -> Command:  # fmt: skip
    c = await session.get(Command, command_id, populate_existing=True)
    if c is None:
        raise NotFound(E.COMMAND_NOT_FOUND, f"command {command_id} not found", command=command_id)
    if c.batch_id is not None:
        raise service.CommandRefused(
            E.COMMAND_IN_BATCH,
            f"command {command_id} belongs to batch {c.batch_id}: decide the batch",
            command=command_id,
            batch=c.batch_id,
        )
    if c.state is not State.AWAITING_APPROVAL:
        raise service.CommandChanged(c.id, State.AWAITING_APPROVAL)
    level = await _now_needed(session, c, ctx)
    _may_decide(level, c.actor, approver, role, approve, override, comment, [c.meter_id])
    event = Event.APPROVE if approve else Event.REJECT
    word = ("override approved" if level.is_override else "approved") if approve else "rejected"
    await service.transition(
        session, c, event, approver, word + (f": {comment}" if comment else ""),
        note=comment.strip() or None, approver=approver, approval=level.value,
    )  # fmt: skip
    return c


async def decide_batch(
    session: AsyncSession, batch_id: int, approver: str, role: Role, *, approve: bool,
    ctx: Context, comment: str = "", override: bool = False,
) -> CommandBatch:  # fmt: skip
    batch = await session.get(CommandBatch, batch_id, populate_existing=True)
    if batch is None:
        raise NotFound(E.BATCH_NOT_FOUND, f"command batch {batch_id} not found", batch=batch_id)
    if batch.decision == NOT_REQUIRED:
        raise service.CommandRefused(
            E.BATCH_NEEDS_NO_APPROVAL, f"batch {batch_id} needs no approval", batch=batch_id
        )
    if batch.decision is not None:
        raise service.CommandRefused(
            E.BATCH_APPROVED if batch.decision == "approved" else E.BATCH_REJECTED,
            f"batch {batch_id} was already {batch.decision} by {batch.decided_by}",
            batch=batch_id,
            by=batch.decided_by,
        )
    commands = (await session.scalars(select(Command).where(Command.batch_id == batch_id))).all()
    waiting = [c for c in commands if c.state is State.AWAITING_APPROVAL]
    level = Approval(batch.approval or Approval.FOUR_EYES.value)
    for c in waiting:
        level = stricter(level, await _now_needed(session, c, ctx))
    _may_decide(
        level, batch.requested_by, approver, role, approve, override, comment,
        [c.meter_id for c in waiting],
    )  # fmt: skip
    decision = "approved" if approve else "rejected"
    now = utcnow()
    won = await session.execute(
        update(CommandBatch)
        .where(CommandBatch.id == batch_id, CommandBatch.decision.is_(None))
        .values(decision=decision, decided_by=approver, decided_at=now, approval=level.value)
        .execution_options(synchronize_session=False)
    )
    if won.rowcount != 1:  # type: ignore[attr-defined]
        raise service.CommandRefused(
            E.BATCH_DECIDED_CONCURRENTLY,
            f"batch {batch_id} was decided by someone else first",
            batch=batch_id,
        )
    await session.refresh(batch)
    word = "override approved" if level.is_override and approve else decision
    for c in waiting:
        try:
            await service.transition(
                session, c, Event.APPROVE if approve else Event.REJECT, approver,
                f"batch {batch_id} {word}" + (f": {comment}" if comment else ""),
                note=comment.strip() or None, approver=approver,
            )  # fmt: skip
        except service.CommandChanged:
            continue  # withdrawn on its own meanwhile (cancelled, expired): stays so
    return batch


async def retry(
    session: AsyncSession, command_id: str, actor: str, *, reason: str, ctx: Context,
    override_reason: str | None = None,
) -> Command:  # fmt: skip
    """A new command for the same meter and kind as a failed, expired or refused one, ordered
    like any other (a disconnect waits for approval again). Retried once: a second retry of the
    same command, even in parallel, is refused."""
    old = await session.get(Command, command_id, populate_existing=True)
    if old is None:
        raise NotFound(E.COMMAND_NOT_FOUND, f"command {command_id} not found", command=command_id)
    if old.state not in RETRYABLE:
        raise service.CommandRefused(
            E.COMMAND_NOT_RETRYABLE,
            f"command {command_id} is {old.state.value}: only a failed, expired or refused "
            "command can be retried",
            command=command_id,
            state=old.state.value,
        )
    if await session.scalar(select(Command.id).where(Command.retry_of == old.id)) is not None:
        raise _retried(command_id)
    meter = await session.get(Meter, old.meter_pk)
    if meter is None:
        raise NotFound(E.METER_NOT_FOUND, f"meter {old.meter_pk} not found", meter=old.meter_pk)
    try:
        # no savepoint: on SQLite its reads would pin a snapshot the insert could not upgrade
        return await order(
            session, meter, old.kind, reason=reason, actor=actor, ctx=ctx,
            override_reason=override_reason, retry_of=old.id,
        )  # fmt: skip
    except IntegrityError:  # a parallel retry won the unique retry_of (nothing else pending)
        await session.rollback()
        raise _retried(command_id) from None


def _retried(command_id: str) -> service.CommandRefused:
    return service.CommandRefused(
        E.COMMAND_RETRIED, f"command {command_id} was already retried", command=command_id
    )


def verdict(c: Command) -> Verdict | None:
    return decode_verdict(c.verdict)
