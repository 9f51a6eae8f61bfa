"""The command journal: every command is on disk before anything is acknowledged.

States (a table, as in h11): a command enters as ``received`` (or straight to a refusal), goes
to ``executing`` *before* the first frame is sent to the meter, and ends in one final state.
Each change and the ack that reports it commit together, through the durable outbox.

=================  ==========================================================
from               to
=================  ==========================================================
(new)              received, refused_expired, refused_unknown_meter
received           executing, refused_expired, refused_policy, failed
executing          executing (next attempt), executed, failed, refused_expired
=================  ==========================================================
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from edge_agent.database import Database, Transaction
from edge_agent.outbox import insert_items, now_ms
from protocols.contract import Channel, Command, CommandAck, CommandState, RelayState

RECEIVED = "received"
EXECUTING = "executing"
FINAL = frozenset(s.value for s in CommandState) - {RECEIVED}

TRANSITIONS: dict[str | None, frozenset[str]] = {
    None: frozenset({RECEIVED, "refused_expired", "refused_unknown_meter"}),
    # executed straight from received: the relay was already in the target state (read back,
    # nothing sent)
    RECEIVED: frozenset({EXECUTING, "executed", "refused_expired", "refused_policy", "failed"}),
    EXECUTING: frozenset({EXECUTING, "executed", "failed", "refused_expired"}),
}


class IllegalCommandTransition(RuntimeError):
    pass


@dataclass(frozen=True)
class Entry:
    command: Command
    state: str
    attempts: int
    relay_state: int | None
    error: str | None


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Command)


def _entry(row: tuple[bytes, str, int, int | None, str | None]) -> Entry:
    body, state, attempts, relay_state, error = row
    return Entry(_decoder.decode(body), state, attempts, relay_state, error)


def _get(conn: sqlite3.Connection, command_id: str) -> Entry | None:
    row = conn.execute(
        "SELECT body, state, attempts, relay_state, error FROM commands WHERE id = ?",
        (command_id,),
    ).fetchone()
    return _entry(row) if row else None


def _check(old: str | None, new: str) -> None:
    if new not in TRANSITIONS.get(old, frozenset()):
        raise IllegalCommandTransition(f"command state {old} -> {new} is not allowed")


class Journal:
    def __init__(self, db: Database, clock: Callable[[], int] = now_ms) -> None:
        self.db = db
        self.clock = clock

    async def intake(self, command: Command, *, known_meter: bool) -> tuple[str, Entry | None]:
        """Persist a new command and its first ack in one commit. Returns (state, earlier)
        where state is ``duplicate`` (with the earlier entry) or the state it entered."""
        return await self.db.run(self._intake, command, known_meter)

    def _intake(
        self, conn: sqlite3.Connection, command: Command, known_meter: bool
    ) -> tuple[str, Entry | None]:
        now = self.clock()
        with Transaction(conn):
            earlier = _get(conn, command.id)
            if earlier is not None:
                outcome = f"earlier outcome: {earlier.state}"
                if earlier.error:
                    outcome += f" ({earlier.error})"
                ack = CommandAck(
                    id=command.id,
                    meter=command.meter,
                    state=CommandState.DUPLICATE,
                    ts=now,
                    relay_state=_relay(earlier.relay_state),
                    error=outcome[:500],
                    attempts=earlier.attempts,
                )
                insert_items(conn, Channel.ACKS, [ack], now)
                return CommandState.DUPLICATE.value, earlier
            if not known_meter:
                state, error = CommandState.REFUSED_UNKNOWN_METER.value, "no such meter here"
            elif now > command.not_after:
                state, error = CommandState.REFUSED_EXPIRED.value, "arrived after not_after"
            else:
                state, error = RECEIVED, None
            _check(None, state)
            conn.execute(
                "INSERT INTO commands (id, meter, body, state, error, received_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (command.id, command.meter, _encoder.encode(command), state, error, now, now),
            )
            ack = CommandAck(
                id=command.id, meter=command.meter, state=CommandState(state), ts=now, error=error
            )
            insert_items(conn, Channel.ACKS, [ack], now)
            return state, None

    async def executing(self, command_id: str, attempts: int) -> None:
        """Recorded (and fsynced) before the frame goes to the meter."""
        await self.db.run(self._executing, command_id, attempts)

    def _executing(self, conn: sqlite3.Connection, command_id: str, attempts: int) -> None:
        with Transaction(conn):
            entry = _get(conn, command_id)
            _check(entry.state if entry else None, EXECUTING)
            conn.execute(
                "UPDATE commands SET state = ?, attempts = ?, updated_at = ? WHERE id = ?",
                (EXECUTING, attempts, self.clock(), command_id),
            )

    async def finish(
        self,
        command_id: str,
        state: CommandState,
        *,
        relay_state: RelayState | None = None,
        error: str | None = None,
    ) -> CommandAck:
        return await self.db.run(self._finish, command_id, state, relay_state, error)

    def _finish(
        self,
        conn: sqlite3.Connection,
        command_id: str,
        state: CommandState,
        relay_state: RelayState | None,
        error: str | None,
    ) -> CommandAck:
        now = self.clock()
        with Transaction(conn):
            entry = _get(conn, command_id)
            _check(entry.state if entry else None, state.value)
            assert entry is not None
            error = error[:500] if error else None
            conn.execute(
                "UPDATE commands SET state = ?, relay_state = ?, error = ?, updated_at = ? "
                "WHERE id = ?",
                (state.value, None if relay_state is None else int(relay_state), error, now,
                 command_id),
            )  # fmt: skip
            ack = CommandAck(
                id=command_id,
                meter=entry.command.meter,
                state=state,
                ts=now,
                relay_state=relay_state,
                error=error,
                attempts=entry.attempts,
            )
            insert_items(conn, Channel.ACKS, [ack], now)
            return ack

    async def unfinished(self) -> list[Entry]:
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT body, state, attempts, relay_state, error FROM commands "
                "WHERE state IN (?, ?) ORDER BY received_at, rowid",
                (RECEIVED, EXECUTING),
            ).fetchall()
        )
        return [_entry(r) for r in rows]

    async def get(self, command_id: str) -> Entry | None:
        return await self.db.run(_get, command_id)

    async def counts(self) -> dict[str, int]:
        rows = await self.db.run(
            lambda c: c.execute("SELECT state, COUNT(*) FROM commands GROUP BY state").fetchall()
        )
        return {s: int(n) for s, n in rows}


def _relay(value: int | None) -> RelayState | None:
    return None if value is None else RelayState(value)
