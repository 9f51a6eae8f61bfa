"""The command journal: intake, de-duplication, and its state table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.config import Outbox as Limits
from edge_agent.database import Database
from edge_agent.journal import IllegalCommandTransition, Journal
from edge_agent.outbox import Outbox
from protocols.contract import Channel, Command, CommandKind, CommandState, RelayState

NOW = 1_763_800_000_000


def cmd(command_id: str = "c1", not_after: int = NOW + 60_000) -> Command:
    return Command(id=command_id, meter="m1", kind=CommandKind.DISCONNECT, reason="arrears",
                   issued_by="op", issued_at=NOW, not_after=not_after)  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "agent.db")
    yield database
    database.close()


async def acks(db: Database) -> list[tuple[str, object]]:
    box = Outbox(db, Limits())
    out = []
    while (batch := await box.next_batch(Channel.ACKS, 10)) is not None:
        out.extend((a.state.value, a.relay_state) for a in batch.items)  # type: ignore[union-attr]
    return out


async def test_a_command_is_journalled_with_its_received_ack_in_one_commit(db: Database) -> None:
    journal = Journal(db, clock=lambda: NOW)
    state, earlier = await journal.intake(cmd(), known_meter=True)
    assert (state, earlier) == ("received", None)
    entry = await journal.get("c1")
    assert entry is not None
    assert entry.state == "received"
    assert await acks(db) == [("received", None)]


async def test_a_repeat_is_a_duplicate_carrying_the_earlier_outcome(db: Database) -> None:
    journal = Journal(db, clock=lambda: NOW)
    await journal.intake(cmd(), known_meter=True)
    await journal.executing("c1", 1)
    await journal.finish("c1", CommandState.EXECUTED, relay_state=RelayState.DISCONNECTED)
    state, earlier = await journal.intake(cmd(), known_meter=True)
    assert state == "duplicate"
    assert earlier is not None
    assert earlier.state == "executed"
    assert (await acks(db))[-1] == ("duplicate", RelayState.DISCONNECTED)


async def test_a_command_past_not_after_is_refused_at_intake(db: Database) -> None:
    journal = Journal(db, clock=lambda: NOW)
    state, _ = await journal.intake(cmd(not_after=NOW - 1), known_meter=True)
    assert state == "refused_expired"
    assert await journal.unfinished() == []


async def test_a_finished_command_cannot_change_state_again(db: Database) -> None:
    journal = Journal(db, clock=lambda: NOW)
    await journal.intake(cmd(), known_meter=True)
    await journal.finish("c1", CommandState.REFUSED_POLICY, error="night")
    with pytest.raises(IllegalCommandTransition):
        await journal.executing("c1", 1)
    entry = await journal.get("c1")
    assert entry is not None
    assert entry.state == "refused_policy"


async def test_unfinished_commands_are_found_after_a_restart(tmp_path: Path) -> None:
    db = Database(tmp_path / "agent.db")
    journal = Journal(db, clock=lambda: NOW)
    await journal.intake(cmd("a"), known_meter=True)
    await journal.intake(cmd("b"), known_meter=True)
    await journal.executing("b", 1)
    db.close()
    db = Database(tmp_path / "agent.db")
    unfinished = await Journal(db).unfinished()
    db.close()
    assert [(e.command.id, e.state, e.attempts) for e in unfinished] == [
        ("a", "received", 0),
        ("b", "executing", 1),
    ]
