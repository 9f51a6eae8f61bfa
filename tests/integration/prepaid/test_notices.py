"""Escalation notices: "disconnected" when a disconnect is verified and "restored" (or "press the
button") when the restore is, each once per episode; the restore ends the episode."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from backend.commands import service
from backend.commands.lifecycle import Event
from backend.db import session_factory
from backend.prepaid import engine as prepaid
from backend.prepaid import ledger
from backend.prepaid.models import EntryKind, Notice, NoticeKind, NoticeStatus, WarningEpisode
from backend.prepaid.notices import Delivery, LoggingProvider, deliver_pending
from backend.settings import load_settings
from backend.types import to_epoch_ms, utcnow
from protocols.contract import CommandAck, CommandKind, CommandState, RelayState
from tests.support.prepaid_data import make_account


async def ack(s, settings, command, relay: RelayState) -> None:  # type: ignore[no-untyped-def]
    """What the dispatcher does with an agent's "executed" ack."""
    msg = CommandAck(id=command.id, meter=command.meter_id, state=CommandState.EXECUTED,
                     ts=to_epoch_ms(utcnow()), relay_state=relay)  # fmt: skip
    applied = await service.apply_ack(s, msg, command.agent_id)
    assert applied is not None
    await prepaid.after_verified(s, settings, applied, utcnow())


async def kinds(s, account_id: int) -> Counter[NoticeKind]:  # type: ignore[no-untyped-def]
    rows = await s.scalars(select(Notice.kind).where(Notice.account_id == account_id))
    return Counter(rows.all())


async def test_disconnected_and_restored_notices_go_out_once_each_and_close_the_episode(
    engine, tmp_path: Path
) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path))  # channels: sms, app
    sessions = session_factory(engine)
    ttl = timedelta(minutes=10)
    async with sessions() as s:
        _, account, meter = await make_account(s, control_mode=2)
        await ledger.post(s, account.id, EntryKind.ADJUSTMENT, -800, actor="t", memo="debt")
        off = await service.create(s, meter, CommandKind.DISCONNECT, reason="arrears",
                                   actor=service.ENGINE, ttl=ttl)  # fmt: skip
        await service.transition(s, off, Event.DISPATCH, "dispatcher")
        await ack(s, settings, off, RelayState.DISCONNECTED)
        await ack(s, settings, off, RelayState.DISCONNECTED)  # a repeated ack: no second notice
        await s.commit()
        assert await kinds(s, account.id) == {NoticeKind.DISCONNECTED: 2}
        text = (await s.scalars(select(Notice.text))).first()
        assert text is not None
        assert "欠费 ¥8.00" in text
        await ledger.post(s, account.id, EntryKind.TOP_UP, 1_000, actor="alice")
        (on,) = await prepaid.after_payment(s, settings, account.id, utcnow())
        episode = await s.get(WarningEpisode, account.id)
        assert episode is not None
        assert episode.open  # supply is still off: the episode waits for the restore
        await service.transition(s, on, Event.DISPATCH, "dispatcher")
        await ack(s, settings, on, RelayState.CONNECTED)
        await s.commit()
        assert await kinds(s, account.id) == {NoticeKind.DISCONNECTED: 2, NoticeKind.RESTORED: 2}
        await s.refresh(episode)
        assert not episode.open
        assert on.restored_at is not None


async def test_an_armed_meter_is_told_to_press_the_button(engine, tmp_path: Path) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path), prepaid_notice_channels="app")
    async with session_factory(engine)() as s:
        _, account, meter = await make_account(s, control_mode=1)
        off = await service.create(s, meter, CommandKind.DISCONNECT, reason="arrears",
                                   actor="op", ttl=timedelta(minutes=10))  # fmt: skip
        await service.transition(s, off, Event.DISPATCH, "dispatcher")
        await ack(s, settings, off, RelayState.DISCONNECTED)
        await ledger.post(s, account.id, EntryKind.TOP_UP, 1_000, actor="alice")
        (arm,) = await prepaid.after_payment(s, settings, account.id, utcnow())
        assert arm.kind is CommandKind.ARM_RECONNECT
        await service.transition(s, arm, Event.DISPATCH, "dispatcher")
        await ack(s, settings, arm, RelayState.READY_FOR_RECONNECTION)
        await s.commit()
        restored = await s.scalar(select(Notice).where(Notice.kind == NoticeKind.RESTORED))
        assert restored is not None
        assert "请按电表上的按钮" in restored.text
        assert arm.restored_at is not None  # ready for the button: the restore time ends here


async def test_a_reconnect_without_a_disconnect_notice_in_the_episode_tells_nothing(
    engine, tmp_path: Path
) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path))
    async with session_factory(engine)() as s:
        _, account, meter = await make_account(s, relay_state=int(RelayState.DISCONNECTED))
        on = await service.create(s, meter, CommandKind.RECONNECT, reason="installed",
                                  actor="op", ttl=timedelta(minutes=10))  # fmt: skip
        await service.transition(s, on, Event.DISPATCH, "dispatcher")
        await ack(s, settings, on, RelayState.CONNECTED)
        await s.commit()
        assert await kinds(s, account.id) == {}


class Counting(LoggingProvider):
    """Sends as the log does; raises ``fail`` from the ``at``-th send on (1-based)."""

    def __init__(self, at: int | None = None, fail: BaseException | None = None) -> None:
        self.at, self.fail, self.sends = at, fail, 0

    async def send(self, notice: Notice) -> Delivery:
        self.sends += 1
        if self.at is not None and self.fail is not None and self.sends >= self.at:
            raise self.fail
        return await super().send(notice)


async def six_pending(engine, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Three low accounts, each warned on sms and app: six pending notices."""
    settings = load_settings(env={}, data_dir=str(tmp_path))  # channels: sms, app
    async with session_factory(engine)() as s:
        for _ in range(3):
            _, account, _ = await make_account(s)
            await ledger.post(s, account.id, EntryKind.TOP_UP, 1_000, actor="t", memo="seed")
        await prepaid.sweep(s, settings, utcnow())
        await s.commit()
        assert await statuses(s) == [NoticeStatus.PENDING] * 6


async def statuses(s) -> list[NoticeStatus]:  # type: ignore[no-untyped-def]
    return list(await s.scalars(select(Notice.status).order_by(Notice.id)))


async def test_notices_are_delivered_a_page_at_a_time_every_page_recorded(
    engine, tmp_path: Path
) -> None:
    await six_pending(engine, tmp_path)
    async with session_factory(engine)() as s:
        assert await deliver_pending(s, Counting(), page=4) == 6
    async with session_factory(engine)() as s:
        assert await statuses(s) == [NoticeStatus.SENT] * 6


async def test_a_delivery_cut_short_keeps_what_its_earlier_pages_sent(
    engine, tmp_path: Path
) -> None:
    """The task delivering is cancelled at the fourth send (a crash alike): the first page of
    two is recorded as sent and will not go to the customer again; the third, sent in the
    page cut short, will (at least once, at most the page in hand)."""
    await six_pending(engine, tmp_path)
    async with session_factory(engine)() as s:
        with pytest.raises(asyncio.CancelledError):
            await deliver_pending(s, Counting(4, asyncio.CancelledError()), page=2)
    async with session_factory(engine)() as s:
        assert await statuses(s) == [NoticeStatus.SENT] * 2 + [NoticeStatus.PENDING] * 4


async def test_a_provider_that_is_down_is_tried_for_one_page_not_for_every_notice(
    engine, tmp_path: Path
) -> None:
    await six_pending(engine, tmp_path)
    down = Counting(1, RuntimeError("gateway timeout"))
    async with session_factory(engine)() as s:
        assert await deliver_pending(s, down, page=2) == 2
    assert down.sends == 2
    async with session_factory(engine)() as s:
        rows = await s.execute(select(Notice.attempts, Notice.last_error).order_by(Notice.id))
        assert [tuple(r) for r in rows] == [(1, "gateway timeout")] * 2 + [(0, None)] * 4
