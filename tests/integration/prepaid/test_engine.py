"""The prepaid engine: warn, wait for the warning's lead time, disconnect when the policy says
due, and restore after payment (directly or armed, by the meter's control mode)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from backend.commands.lifecycle import State
from backend.commands.models import Command
from backend.db import session_factory
from backend.prepaid import engine as prepaid
from backend.prepaid import ledger
from backend.prepaid.channels.simulated import Simulated
from backend.prepaid.models import EntryKind, Notice, NoticeKind, NoticeStatus
from backend.prepaid.notices import LoggingProvider, deliver_pending
from backend.settings import load_settings
from protocols.contract import CommandKind, RelayState
from tests.support.prepaid_data import make_account

TZ = ZoneInfo("Asia/Shanghai")


async def test_arrears_are_warned_then_disconnected_and_payment_restores_supply(
    engine, tmp_path: Path
) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path), prepaid_auto_disconnect=True)
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, _ = await make_account(s, control_mode=2)
        await ledger.post(s, account.id, EntryKind.ADJUSTMENT, -1_500, actor="t", memo="debt")
        await s.commit()
    tuesday = datetime(2026, 5, 5, 10, tzinfo=TZ).astimezone(ZoneInfo("UTC"))
    provider = Simulated({})  # answers and reports receipts like a real SMS provider
    # 2026-05-05 is a holiday (劳动节): warned, not disconnected
    async with sessions() as s:
        first = await prepaid.sweep(s, settings, tuesday)
        await deliver_pending(s, provider, tuesday)
        await s.commit()
    async with sessions() as s:
        assert await provider.report(s) == 4  # receipts: low balance and warning, sms and app
        await s.commit()
    assert first.disconnects == []
    async with sessions() as s:
        kinds = {(n.kind, n.status) for n in (await s.scalars(select(Notice))).all()}
        assert (NoticeKind.DISCONNECT_WARNING, NoticeStatus.DELIVERED) in kinds
        assert (NoticeKind.LOW_BALANCE, NoticeStatus.DELIVERED) in kinds
        # each notice is a code with parameters, worded for the customer (zh-CN) from it
        warning = await s.scalar(
            select(Notice).where(Notice.kind == NoticeKind.DISCONNECT_WARNING).limit(1)
        )
        assert warning is not None
        assert warning.code == "notice.text.disconnect_warning"
        assert warning.params is not None
        assert warning.params["owed_fen"] == 1_500
        assert warning.text.startswith("您已欠费 ¥15.00，最早将于 2026-05-06 10:00 停电")
    # the next sweep does not send the same notices again
    async with sessions() as s:
        await prepaid.sweep(s, settings, tuesday + timedelta(hours=1))
        assert await deliver_pending(s, provider) == 0
        await s.commit()
    wednesday = tuesday + timedelta(days=1, hours=1)  # 11:00, warning 25 h old
    async with sessions() as s:
        second = await prepaid.sweep(s, settings, wednesday)
        await s.commit()
    assert second.decisions[account.id].due
    (cid,) = second.disconnects
    async with sessions() as s:
        c = await s.get(Command, cid)
        assert c is not None
        assert (c.kind, c.state, c.actor) == (
            CommandKind.DISCONNECT,
            State.QUEUED,
            "prepaid-engine",
        )
        assert "is a working day" in c.reason
        assert "inside the disconnect window" in c.reason
        assert (c.reason_code, c.reason_params) == (
            "command.reason_arrears",
            {"balance_fen": -1_500},
        )
        # the customer pays before dispatch: the disconnect is withdrawn
        await ledger.post(s, account.id, EntryKind.TOP_UP, 5_000, actor="alice")
        assert await prepaid.after_payment(s, settings, account.id, wednesday) == []
        await s.commit()
        await s.refresh(c)
        assert c.state is State.CANCELLED


async def test_after_payment_a_direct_mode_meter_reconnects_and_an_arming_mode_meter_is_armed(
    engine, tmp_path: Path
) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path))
    sessions = session_factory(engine)
    off = int(RelayState.DISCONNECTED)
    async with sessions() as s:
        _, direct, _ = await make_account(s, control_mode=2, relay_state=off)
        _, armed, _ = await make_account(s, control_mode=1, relay_state=off)
        for acc in (direct, armed):
            await ledger.post(s, acc.id, EntryKind.TOP_UP, 1_000, actor="t")
        paid = datetime(2026, 5, 6, 3, tzinfo=ZoneInfo("UTC"))
        (a,) = await prepaid.after_payment(s, settings, direct.id, paid)
        (b,) = await prepaid.after_payment(s, settings, armed.id, paid)
        await s.commit()
    assert (a.kind, a.expected_relay_state) == (CommandKind.RECONNECT, int(RelayState.CONNECTED))
    assert (b.kind, b.expected_relay_state) == (
        CommandKind.ARM_RECONNECT, int(RelayState.READY_FOR_RECONNECTION),
    )  # fmt: skip
    assert a.paid_at == paid


async def test_a_warning_only_written_to_the_log_never_lets_the_engine_disconnect(
    engine, tmp_path: Path
) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path), prepaid_auto_disconnect=True)
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, _ = await make_account(s, control_mode=2)
        await ledger.post(s, account.id, EntryKind.ADJUSTMENT, -1_500, actor="t", memo="debt")
        await s.commit()
    tuesday = datetime(2026, 5, 5, 10, tzinfo=TZ).astimezone(ZoneInfo("UTC"))
    async with sessions() as s:
        await prepaid.sweep(s, settings, tuesday)
        assert await deliver_pending(s, LoggingProvider(), tuesday) == 4
        await s.commit()
    async with sessions() as s:
        statuses = {n.status for n in (await s.scalars(select(Notice))).all()}
        assert statuses == {NoticeStatus.SENT}  # handed over, never confirmed
    for days in (1, 2, 7):
        async with sessions() as s:
            later = await prepaid.sweep(s, settings, tuesday + timedelta(days=days, hours=1))
            await s.commit()
        assert later.disconnects == []
        warning = next(r for r in later.decisions[account.id].reasons if r.rule == "warning")
        assert warning.ok is False


async def test_a_sweep_of_every_account_reads_them_a_page_at_a_time_and_misses_none(
    engine, tmp_path: Path, monkeypatch
) -> None:
    """Without ``only`` the engine sweeps every prepaid account in pages (each page's reads
    are lists of its ids, which a database bounds): five accounts in pages of two are all
    warned and decided, in three pages."""
    settings = load_settings(env={}, data_dir=str(tmp_path))
    sessions = session_factory(engine)
    async with sessions() as s:
        made = [await make_account(s) for _ in range(5)]
        await s.commit()
    pages: list[int] = []
    page = prepaid._page

    async def spy(session, accounts, now, daily):  # type: ignore[no-untyped-def]
        pages.append(len(accounts))
        return await page(session, accounts, now, daily)

    monkeypatch.setattr(prepaid, "PAGE", 2)
    monkeypatch.setattr(prepaid, "_page", spy)
    async with sessions() as s:
        result = await prepaid.sweep(s, settings, datetime(2026, 5, 6, 10, tzinfo=TZ))
        await s.commit()
    assert pages == [2, 2, 1]
    assert set(result.decisions) == {account.id for _, account, _ in made}
    async with sessions() as s:
        warned = await s.scalars(
            select(Notice.account_id).where(Notice.kind == NoticeKind.LOW_BALANCE).distinct()
        )
        assert set(warned) == {account.id for _, account, _ in made}
