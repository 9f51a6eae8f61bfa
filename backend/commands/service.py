"""Creating commands, moving them through the lifecycle table, and applying agents' acks.

Every change goes through :func:`transition`, which consults ``lifecycle.TRANSITIONS`` and writes
an audit row (actor, time, from, to, detail) in the same transaction; an illegal move raises
before anything is written. An audit row's ``detail`` is English for the log; ``note`` is a
person's own words (a reason, a comment), the only text of it a screen shows as it is.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from backend.commands.lifecycle import OPEN, Event, State, next_state
from backend.commands.models import Command, CommandAudit
from backend.errors import Conflict, Forbidden
from backend.errors import ErrorCode as E
from backend.metering.models import Meter
from backend.texts import Text, TextCode
from backend.types import utcnow
from protocols.contract import CommandAck, CommandKind, CommandState, RelayState
from protocols.relay import IllegalTransition, command_outcome

RELAY_KINDS = (CommandKind.DISCONNECT, CommandKind.RECONNECT, CommandKind.ARM_RECONNECT)
ENGINE = "prepaid-engine"
NOT_REQUIRED = "not_required"  # a batch that needs no second operator


class CommandText(TextCode):
    """A command's reason (when the engine wrote it) and error, as codes for people."""

    REASON_ARREARS = "command.reason_arrears"  # {balance_fen}: the policy said due
    REASON_PAID = "command.reason_paid"  # {balance_fen}: a payment restores supply
    FAILED = "command.failed"  # the agent or the meter failed (its own words in ``error``)
    REFUSED_EXPIRED = "command.refused_expired"
    REFUSED_POLICY = "command.refused_policy"
    REFUSED_UNKNOWN_METER = "command.refused_unknown_meter"
    READBACK_MISMATCH = "command.readback_mismatch"  # {readback, expected} relay states


class CommandRefused(Conflict):
    """The command cannot be created or decided (409)."""


class FourEyes(Forbidden):
    """The approver must be a different person than the requester (or, for a protected
    customer, a supervisor) (403)."""


async def audit(
    session: AsyncSession, command: Command, event: str, actor: str, frm: State | None,
    to: State, detail: str = "", note: str | None = None,
) -> None:  # fmt: skip
    session.add(
        CommandAudit(
            command_id=command.id, at=utcnow(), actor=actor, event=event,
            from_state=frm.value if frm else None, to_state=to.value, detail=detail,
            note=note[:500] if note else None,
        )
    )  # fmt: skip


class CommandChanged(Conflict):
    """Someone else moved the command first (compare-and-set lost): answered 409."""

    def __init__(self, command_id: str, expected: State) -> None:
        super().__init__(
            E.COMMAND_CHANGED,
            f"command {command_id} is no longer {expected.value}: someone else decided first",
            command=command_id,
            state=expected.value,
        )


async def transition(
    session: AsyncSession, command: Command, event: Event, actor: str, detail: str = "",
    *, note: str | None = None, **values: object,
) -> State:  # fmt: skip
    """Move ``command`` on ``event`` as a compare-and-set on its row: ``UPDATE … WHERE state =
    :expected``. Of two concurrent moves exactly one wins; the other raises CommandChanged and
    writes nothing. ``values`` are further columns set in the same statement; ``note`` is the
    person's own words for the audit row."""
    old = command.state
    new = next_state(old, event)  # raises IllegalCommandTransition, nothing changed
    now = utcnow()
    result = await session.execute(
        update(Command)
        .where(Command.id == command.id, Command.state == old)
        .values(state=new, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise CommandChanged(command.id, old)
    for key, value in dict(values, state=new, updated_at=now).items():
        set_committed_value(command, key, value)
    await audit(session, command, event.value, actor, old, new, detail, note)
    return new


async def open_command(session: AsyncSession, meter_pk: int) -> Command | None:
    return await session.scalar(
        select(Command)
        .where(Command.meter_pk == meter_pk, Command.state.in_(OPEN))
        .order_by(Command.created_at.desc())
        .limit(1)
    )


async def create(
    session: AsyncSession,
    meter: Meter,
    kind: CommandKind,
    *,
    reason: str,
    actor: str,
    ttl: timedelta,
    needs_approval: bool = False,
    batch_id: int | None = None,
    paid_at: datetime | None = None,
    command_id: str | None = None,
    reason_text: Text | None = None,
    approval: str | None = None,
    verdict: str | None = None,
    override_reason: str | None = None,
    retry_of: str | None = None,
) -> Command:
    reason = reason.strip()
    if not reason:
        raise CommandRefused(E.COMMAND_NEEDS_REASON, "a command needs a reason", field="reason")
    if command_id is not None:
        existing = await session.get(Command, command_id)
        if existing is not None:  # client retry with the same id: the same command
            return existing
    if meter.agent_id is None:
        raise CommandRefused(
            E.METER_HAS_NO_AGENT,
            f"meter {meter.meter_id} has no agent to carry the command",
            meter=meter.meter_id,
        )
    busy = await open_command(session, meter.id)
    if busy is not None:
        raise CommandRefused(
            E.METER_BUSY,
            f"meter {meter.meter_id} already has command {busy.id} ({busy.kind.value}, "
            f"{busy.state.value}); wait for it or cancel it",
            meter=meter.meter_id,
            command=busy.id,
            kind=busy.kind.value,
            state=busy.state.value,
        )
    expected: int | None = None
    if kind in RELAY_KINDS:
        state = RelayState(meter.relay_state if meter.relay_state is not None else 1)
        try:
            expected = int(command_outcome(meter.relay_control_mode, state, kind))
        except IllegalTransition as exc:
            raise CommandRefused(
                E.RELAY_REFUSES,
                f"meter {meter.meter_id}: {exc}",
                meter=meter.meter_id,
                kind=kind.value,
                mode=int(meter.relay_control_mode),
                relay=int(state),
            ) from None
    now = utcnow()
    command = Command(
        id=command_id or uuid.uuid4().hex, meter_pk=meter.id, meter_id=meter.meter_id,
        agent_id=meter.agent_id, account_id=meter.account_id, kind=kind,
        state=State.AWAITING_APPROVAL if needs_approval else State.QUEUED, reason=reason,
        actor=actor, batch_id=batch_id, not_after=now + ttl, expected_relay_state=expected,
        paid_at=paid_at, created_at=now, updated_at=now, approval=approval, verdict=verdict,
        override_reason=override_reason, retry_of=retry_of,
        reason_code=reason_text.code if reason_text else None,
        reason_params=dict(reason_text.params) if reason_text else None,
    )  # fmt: skip
    session.add(command)
    await session.flush()
    # the engine's reason is a code (reason_text); an operator's is their own words
    note = None if reason_text else reason
    await audit(session, command, "create", actor, None, command.state, reason, note)
    return command


async def cancel(session: AsyncSession, command: Command, actor: str, reason: str) -> Command:
    """Withdraw a command before it is sent (raises IllegalCommandTransition once sent)."""
    await transition(session, command, Event.CANCEL, actor, reason, note=reason)
    return command


_REFUSED = {
    CommandState.REFUSED_EXPIRED: CommandText.REFUSED_EXPIRED,
    CommandState.REFUSED_POLICY: CommandText.REFUSED_POLICY,
    CommandState.REFUSED_UNKNOWN_METER: CommandText.REFUSED_UNKNOWN_METER,
}


async def apply_ack(session: AsyncSession, ack: CommandAck, agent: str) -> Command | None:
    """Move a command on an agent's ack. Unknown ids, another agent's commands and acks that
    change nothing (duplicates, repeats) are audited or ignored, never raised."""
    command = await session.get(Command, ack.id)
    if command is None or command.agent_id != agent or command.meter_id != ack.meter:
        return None
    actor = f"agent:{agent}"
    detail = f"ack {ack.state.value}" + (f": {ack.error}" if ack.error else "")
    if ack.relay_state is not None:
        command.readback_relay_state = int(ack.relay_state)
    state = command.state
    if ack.state is CommandState.RECEIVED and state is State.DISPATCHED:
        await transition(session, command, Event.RECEIVE, actor, detail)
    elif ack.state is CommandState.EXECUTED and state in (
        State.DISPATCHED, State.RECEIVED, State.EXPIRED,
    ):  # fmt: skip
        late = " (late ack after expiry)" if state is State.EXPIRED else ""
        await transition(session, command, Event.EXECUTE, actor, detail + late)
        await _verify(session, command, actor)
    elif ack.state is CommandState.FAILED and state in (
        State.DISPATCHED, State.RECEIVED, State.EXPIRED,
    ):  # fmt: skip
        command.error = ack.error
        command.error_code = CommandText.FAILED
        await transition(session, command, Event.FAIL, actor, detail)
    elif ack.state in _REFUSED and state in (State.DISPATCHED, State.RECEIVED):
        command.error = ack.error or ack.state.value
        command.error_code = _REFUSED[ack.state]
        await transition(session, command, Event.REFUSE, actor, detail)
    else:  # duplicate, or an ack overtaken by a later one: recorded, nothing moves
        await audit(session, command, "ack_ignored", actor, state, state, detail)
    return command


async def _verify(session: AsyncSession, command: Command, actor: str) -> None:
    meter = await session.get(Meter, command.meter_pk)
    if command.readback_relay_state is not None and meter is not None:
        meter.relay_state = command.readback_relay_state
    if command.expected_relay_state is None:  # read_now, time_sync: executed is the end
        await transition(session, command, Event.VERIFY, actor, "no relay to check")
        return
    if command.readback_relay_state is None:
        return  # stays executed until a relay_state reading confirms it
    if command.readback_relay_state == command.expected_relay_state:
        if command.kind in (CommandKind.RECONNECT, CommandKind.ARM_RECONNECT):
            # supply is back (or, armed, the customer's button restores it): the end of the
            # payment-to-restore time when a payment ordered it
            command.restored_at = utcnow()
        await transition(
            session, command, Event.VERIFY, actor,
            f"read back {RelayState(command.readback_relay_state).name.lower()} as expected",
        )  # fmt: skip
    else:
        command.error = (
            f"read back {command.readback_relay_state}, expected {command.expected_relay_state}"
        )
        command.error_code = CommandText.READBACK_MISMATCH
        command.error_params = {
            "readback": command.readback_relay_state,
            "expected": command.expected_relay_state,
        }
        await transition(session, command, Event.FAIL, actor, command.error)


async def expire_due(session: AsyncSession, now: datetime, grace: timedelta) -> int:
    """Expire commands past not_after: not yet sent at once; sent ones after a grace for a
    late ack (the agent itself refuses anything past not_after)."""
    n = 0
    rows = (
        await session.scalars(
            select(Command).where(
                Command.state.in_(
                    [State.AWAITING_APPROVAL, State.QUEUED, State.DISPATCHED, State.RECEIVED]
                ),
                Command.not_after < now,
            )
        )
    ).all()
    for c in rows:
        sent = c.state in (State.DISPATCHED, State.RECEIVED)
        if sent and c.not_after + grace > now:
            continue
        await transition(session, c, Event.EXPIRE, "expiry-sweep", f"not_after {c.not_after}")
        n += 1
    return n
