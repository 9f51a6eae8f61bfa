"""The ledger and continuous billing on SQLite and PostgreSQL: balance == sum of entries,
charges as readings arrive, rounding once with the remainder carried, re-rating by reversal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from backend.accounts.models import Account, CustomerCategory
from backend.db import session_factory
from backend.prepaid import billing, ledger
from backend.prepaid.models import BillingState, Charge, EntryKind, LedgerEntry
from backend.tariffs.rating import round_fen
from tests.support.prepaid_data import (
    TZ,
    add_readings,
    load_default_tariffs,
    local_ms,
    make_account,
)


async def entries(session, account_id: int) -> list[tuple[int, str, int, int]]:
    rows = (
        await session.scalars(
            select(LedgerEntry).where(LedgerEntry.account_id == account_id).order_by(LedgerEntry.id)
        )
    ).all()
    return [(e.id, e.kind.value, e.amount_fen, e.balance_after_fen) for e in rows]


async def test_the_cached_balance_is_the_sum_of_the_entries(engine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, _ = await make_account(s)
        await ledger.post(s, account.id, EntryKind.TOP_UP, 10_000, actor="t")
        await ledger.post(s, account.id, EntryKind.ADJUSTMENT, -250, actor="t", memo="meter test")
        refund = await ledger.post(s, account.id, EntryKind.REFUND, -1_000, actor="t")
        await ledger.reverse(s, refund.id, actor="t", memo="refund withdrawn")
        await s.commit()
    async with sessions() as s:
        acc = await s.get(Account, account.id)
        assert acc is not None
        assert acc.balance_fen == await ledger.ledger_sum(s, account.id) == 9_750
        assert [e[3] for e in await entries(s, account.id)] == [10_000, 9_750, 8_750, 9_750]


async def test_an_entry_is_reversed_at_most_once_and_a_charge_only_by_re_rating(engine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s)
        await load_default_tariffs(s)
        top = await ledger.post(s, account.id, EntryKind.TOP_UP, 500, actor="t")
        await ledger.reverse(s, top.id, actor="t", memo="bounced")
        with pytest.raises(ledger.LedgerError, match="already reversed"):
            await ledger.reverse(s, top.id, actor="t", memo="again")
        await add_readings(
            s, meter.id, [(local_ms(2026, 5, 6, 10), 0), (local_ms(2026, 5, 6, 11), 1000)]
        )
        await billing.bill_account(s, account.id, TZ)
        charge = await s.scalar(select(Charge))
        assert charge is not None
        with pytest.raises(ledger.LedgerError, match="post an adjustment"):
            await ledger.reverse(s, charge.entry_id, actor="operator", memo="waive")


async def test_each_interval_is_charged_as_its_readings_arrive(engine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s)
        await load_default_tariffs(s)
        await ledger.post(s, account.id, EntryKind.TOP_UP, 10_000, actor="t")
        await add_readings(s, meter.id, [(local_ms(2026, 5, 6, 10), 1_000_000)])
        await s.commit()
    for hour, value in ((11, 1_002_000), (12, 1_003_000)):
        async with sessions() as s:
            await add_readings(s, meter.id, [(local_ms(2026, 5, 6, hour), value)])
            await s.commit()
        ts = local_ms(2026, 5, 6, hour)
        await billing.on_readings_committed(sessions, [(meter.id, "energy_import", ts, ts)], TZ)
    async with sessions() as s:
        # 2 kWh then 1 kWh at 0.4883: 0.9766 → 98 fen, then 1.4649 → 146 fen in all (48 more)
        assert [e[1:3] for e in await entries(s, account.id)] == [
            ("top_up", 10_000),
            ("consumption_charge", -98),
            ("consumption_charge", -48),
        ]
        acc = await s.get(Account, account.id)
        assert acc is not None
        assert acc.balance_fen == 10_000 - 146


async def test_many_tiny_charges_sum_to_the_exact_bill_rounded_once(engine) -> None:
    sessions = session_factory(engine)
    start = local_ms(2026, 5, 6)
    async with sessions() as s:
        _, account, meter = await make_account(s)
        await load_default_tariffs(s)
        # 200 intervals of 10 Wh at 0.4883 CNY/kWh: 0.004883 CNY each, which rounds to 0 fen
        # on its own; carried, the 200 charges sum to round(0.9766) = 98 fen
        await add_readings(s, meter.id, [(start + i * 60_000, 10 * i) for i in range(201)])
        result = await billing.bill_account(s, account.id, TZ)
        await s.commit()
    assert result.posted == 200
    async with sessions() as s:
        assert await ledger.ledger_sum(s, account.id) == -98
        state = await s.get(BillingState, account.id)
        assert state is not None
        assert Decimal(state.exact_total_cny) == Decimal("0.9766")
        assert state.posted_fen == round_fen(Decimal(state.exact_total_cny)) == 98


async def test_a_late_reading_re_rates_by_reversal_without_editing_any_entry(engine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s, category=CustomerCategory.GENERAL_INDUSTRY)
        await load_default_tariffs(s)
        await add_readings(
            s, meter.id, [(local_ms(2026, 5, 6, 7), 0), (local_ms(2026, 5, 6, 9), 2000)]
        )
        await billing.bill_account(s, account.id, TZ)
        await s.commit()
    async with sessions() as s:
        before = await entries(s, account.id)
        # spread evenly: 1000 Wh valley (0.3236) + 1000 Wh peak (0.9710) = 1.2946 → 129 fen
        assert [e[2] for e in before] == [-129]
    late = local_ms(2026, 5, 6, 8)
    async with sessions() as s:
        await add_readings(s, meter.id, [(late, 1800)])  # most of it was used before 08:00
        await s.commit()
    (result,) = await billing.on_readings_committed(
        sessions, [(meter.id, "energy_import", late, late)], TZ
    )
    assert (result.reversed, result.posted) == (1, 2)
    async with sessions() as s:
        after = await entries(s, account.id)
        assert after[: len(before)] == before  # nothing edited
        # reversal +129; then one entry for the round's two charges: 1800 Wh valley =
        # 0.58248, 200 Wh peak 0.1942 → 0.77668 in all → 78 fen
        assert [e[1:3] for e in after[1:]] == [("reversal", 129), ("consumption_charge", -78)]
        acc = await s.get(Account, account.id)
        assert acc is not None
        assert acc.balance_fen == await ledger.ledger_sum(s, account.id) == -78
        live = (await s.scalars(select(Charge).where(Charge.reversed_at.is_(None)))).all()
        assert sorted(c.wh for c in live) == [200, 1800]
        # both charges behind the one entry, each with its own exact amount
        assert len({c.entry_id for c in live}) == 1
        assert sorted(Decimal(c.exact_cny) for c in live) == [Decimal("0.1942"), Decimal("0.58248")]


async def test_a_billing_round_posts_one_entry_and_a_re_rating_reverses_it_whole(engine) -> None:
    sessions = session_factory(engine)
    hours = [local_ms(2026, 5, 6, h) for h in (7, 8, 9, 10)]
    async with sessions() as s:
        _, account, meter = await make_account(s, category=CustomerCategory.GENERAL_INDUSTRY)
        await load_default_tariffs(s)
        await add_readings(s, meter.id, list(zip(hours, (0, 1000, 2500, 3000), strict=True)))
        first = await billing.bill_account(s, account.id, TZ)
        await s.commit()
    assert first.posted == 3
    async with sessions() as s:
        (charge_entry,) = await entries(s, account.id)
        charges = (await s.scalars(select(Charge).order_by(Charge.start_ms))).all()
        assert [c.entry_id for c in charges] == [charge_entry[0]] * 3
        exact_before = {(c.start_ms, c.exact_cny) for c in charges[:2]}
    late = local_ms(2026, 5, 6, 9) + 30 * 60_000  # splits only the last interval
    async with sessions() as s:
        await add_readings(s, meter.id, [(late, 2600)])
        await s.commit()
    (result,) = await billing.on_readings_committed(
        sessions, [(meter.id, "energy_import", late, late)], TZ
    )
    # the whole entry is withdrawn; its two untouched charges are posted again unchanged
    assert (result.reversed, result.posted, result.kept) == (1, 4, 0)
    async with sessions() as s:
        rows = (
            await s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.account_id == account.id)
                .order_by(LedgerEntry.id)
            )
        ).all()
        assert [e.kind for e in rows] == [
            EntryKind.CONSUMPTION_CHARGE, EntryKind.REVERSAL, EntryKind.CONSUMPTION_CHARGE,
        ]  # fmt: skip
        assert rows[1].reverses_id == rows[0].id
        assert rows[1].amount_fen == -rows[0].amount_fen
        assert Decimal(rows[1].exact_cny or "") == -Decimal(rows[0].exact_cny or "")
        live = (
            await s.scalars(
                select(Charge).where(Charge.reversed_at.is_(None)).order_by(Charge.start_ms)
            )
        ).all()
        assert [(c.start_ms, c.wh) for c in live] == [
            (hours[0], 1000), (hours[1], 1500), (hours[2], 100), (late, 400),
        ]  # fmt: skip
        assert {c.entry_id for c in live} == {rows[2].id}
        assert {(c.start_ms, c.exact_cny) for c in live[:2]} == exact_before
        assert rows[2].memo_params == {"intervals": 4, "energy_wh": 3000}
        assert Decimal(rows[2].exact_cny or "") == -sum(Decimal(c.exact_cny) for c in live)
        state = await s.get(BillingState, account.id)
        assert state is not None
        assert await ledger.ledger_sum(s, account.id) == -round_fen(Decimal(state.exact_total_cny))


async def test_the_system_writes_its_memos_as_codes_with_parameters(engine) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        _, account, meter = await make_account(s, category=CustomerCategory.GENERAL_INDUSTRY)
        await load_default_tariffs(s)
        await add_readings(
            s, meter.id, [(local_ms(2026, 5, 6, 7), 0), (local_ms(2026, 5, 6, 9), 2000)]
        )
        await billing.bill_account(s, account.id, TZ)
        await s.commit()
    late = local_ms(2026, 5, 6, 8)
    async with sessions() as s:
        await add_readings(s, meter.id, [(late, 1800)])
        await s.commit()
    await billing.on_readings_committed(sessions, [(meter.id, "energy_import", late, late)], TZ)
    async with sessions() as s:
        rows = (
            await s.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.account_id == account.id)
                .order_by(LedgerEntry.id)
            )
        ).all()
    assert [(e.kind.value, e.memo_code, e.memo_params) for e in rows] == [
        ("consumption_charge", "memo.consumption_round", {"intervals": 1, "energy_wh": 2000}),
        ("reversal", "memo.rerated", {}),
        ("consumption_charge", "memo.consumption_round", {"intervals": 2, "energy_wh": 2000}),
    ]


async def test_an_account_no_tariff_covers_leaves_the_others_of_its_transaction_billed(
    engine,
) -> None:
    sessions = session_factory(engine)
    async with sessions() as s:
        await load_default_tariffs(s)  # in force from 2026-01-01
        _, early, early_meter = await make_account(s)
        _, fine, fine_meter = await make_account(s)
        await add_readings(
            s, early_meter.id, [(local_ms(2025, 5, 6, 7), 0), (local_ms(2025, 5, 6, 8), 1000)]
        )
        await add_readings(
            s, fine_meter.id, [(local_ms(2026, 5, 6, 7), 0), (local_ms(2026, 5, 6, 8), 1000)]
        )
        await s.commit()
    assert early.id < fine.id  # billed first, in the same transaction
    results = await billing.bill_meters(sessions, {early_meter.id: None, fine_meter.id: None}, TZ)
    assert [(r.account_id, r.posted) for r in results] == [(fine.id, 1)]
    async with sessions() as s:
        assert await entries(s, early.id) == []
        assert await s.get(BillingState, early.id) is None
        assert len(await entries(s, fine.id)) == 1
        assert await ledger.ledger_sum(s, fine.id) < 0
