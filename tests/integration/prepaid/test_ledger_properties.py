"""Property tests: whatever the order of top-ups, adjustments, refunds, reversals and readings
arriving late or out of order, the cached balance is the sum of the entries, the posted
charges are the exact bill rounded once, and the final charges equal rating the whole curve."""

from __future__ import annotations

import asyncio
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from backend.accounts.models import Account, CustomerCategory
from backend.db import create_engine, session_factory
from backend.prepaid import billing, ledger
from backend.prepaid.models import BillingState, Charge, EntryKind, LedgerEntry
from backend.tariffs import service as tariff_service
from backend.tariffs.rating import rate_interval, round_fen
from tests.support.prepaid_data import (
    TZ,
    add_readings,
    load_default_tariffs,
    local_ms,
    make_account,
)

HOURS = 10
START = local_ms(2026, 5, 6, 4)  # across the 07:00/08:00 valley→peak boundaries of GI-2026


def make_machine(db_path: Path) -> type[RuleBasedStateMachine]:
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.loop = asyncio.new_event_loop()
            self.engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
            self.sessions = session_factory(self.engine)
            self.arrived: set[int] = set()

        def run(self, coro):  # type: ignore[no-untyped-def]
            return self.loop.run_until_complete(coro)

        @initialize(
            usage=st.lists(st.integers(0, 3000), min_size=HOURS, max_size=HOURS),
            category=st.sampled_from(
                [CustomerCategory.RESIDENTIAL, CustomerCategory.GENERAL_INDUSTRY]
            ),
        )
        def setup(self, usage: list[int], category: CustomerCategory) -> None:
            values = [2_878_000]  # just under the residential first tier threshold
            for u in usage:
                values.append(values[-1] + u)
            self.curve = [(START + i * 3_600_000, v) for i, v in enumerate(values)]

            async def go() -> None:
                async with self.sessions() as s:
                    _, self.account, self.meter = await make_account(s, category=category)
                    await s.commit()

            self.run(go())

        @rule(amount=st.integers(1, 100_000))
        def top_up(self, amount: int) -> None:
            self.run(self._post(EntryKind.TOP_UP, amount))

        @rule(amount=st.integers(-5_000, 5_000).filter(bool))
        def adjust(self, amount: int) -> None:
            self.run(self._post(EntryKind.ADJUSTMENT, amount, memo="correction"))

        @rule(amount=st.integers(1, 5_000))
        def refund(self, amount: int) -> None:
            self.run(self._post(EntryKind.REFUND, -amount))

        async def _post(self, kind: EntryKind, amount: int, memo: str = "") -> None:
            async with self.sessions() as s:
                await ledger.post(s, self.account.id, kind, amount, actor="t", memo=memo)
                await s.commit()

        @rule(pick=st.integers(0, 10**6))
        def reverse_something(self, pick: int) -> None:
            async def go() -> None:
                async with self.sessions() as s:
                    reversed_ids = select(LedgerEntry.reverses_id).where(
                        LedgerEntry.reverses_id.is_not(None)
                    )
                    candidates = (
                        await s.scalars(
                            select(LedgerEntry.id).where(
                                LedgerEntry.account_id == self.account.id,
                                LedgerEntry.kind.in_(
                                    [EntryKind.TOP_UP, EntryKind.ADJUSTMENT, EntryKind.REFUND]
                                ),
                                LedgerEntry.id.not_in(reversed_ids),
                            )
                        )
                    ).all()
                    if candidates:
                        await ledger.reverse(
                            s, candidates[pick % len(candidates)], actor="t", memo="undo"
                        )
                        await s.commit()

            self.run(go())

        @precondition(lambda self: len(self.arrived) < HOURS + 1)
        @rule(pick=st.integers(0, HOURS))
        def a_reading_arrives(self, pick: int) -> None:
            missing = [i for i in range(HOURS + 1) if i not in self.arrived]
            i = missing[pick % len(missing)]
            self.arrived.add(i)
            ts, value = self.curve[i]

            async def go() -> None:
                async with self.sessions() as s:
                    await add_readings(s, self.meter.id, [(ts, value)])
                    await s.commit()
                await billing.on_readings_committed(
                    self.sessions, [(self.meter.id, "energy_import", ts, ts)], TZ
                )

            self.run(go())

        @invariant()
        def balance_is_the_sum_of_entries_and_charges_are_rounded_once(self) -> None:
            async def go() -> None:
                async with self.sessions() as s:
                    acc = await s.get(Account, self.account.id)
                    assert acc is not None
                    assert acc.balance_fen == await ledger.ledger_sum(s, self.account.id)
                    state = await s.get(BillingState, self.account.id)
                    if state is not None:
                        assert state.posted_fen == round_fen(Decimal(state.exact_total_cny))
                        live = (
                            await s.scalars(
                                select(Charge.exact_cny).where(
                                    Charge.account_id == self.account.id,
                                    Charge.reversed_at.is_(None),
                                )
                            )
                        ).all()
                        assert sum(map(Decimal, live), Decimal(0)) == Decimal(state.exact_total_cny)

            self.run(go())

        def teardown(self) -> None:
            try:
                if hasattr(self, "meter"):
                    while len(self.arrived) < HOURS + 1:  # the rest arrive; then all agree
                        self.a_reading_arrives(0)
                    self.run(self._all_arrived())
            finally:
                self.run(self.engine.dispose())
                self.loop.close()

        async def _all_arrived(self) -> None:
            """With every reading in, the live charges are the whole curve rated from scratch."""
            async with self.sessions() as s:
                customer_category = await tariff_service.schedules(s)
                from backend.accounts.models import Customer

                cust = await s.get(Customer, self.account.customer_id)
                assert cust is not None
                sched = customer_category[cust.category]
                counters: dict = {}
                expected = Decimal(0)
                for (t0, v0), (t1, v1) in zip(self.curve, self.curve[1:], strict=False):
                    if v1 > v0:
                        lines = rate_interval(
                            sched, TZ, self.account.cycle_start, t0, t1, v1 - v0, counters
                        )
                        expected += sum((ln.amount for ln in lines), Decimal(0))
                state = await s.get(BillingState, self.account.id)
                total = Decimal(state.exact_total_cny) if state else Decimal(0)
                assert total == expected

    return LedgerMachine


def test_the_ledger_holds_under_any_sequence_of_operations_including_re_rating(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    shutil.copy(request.getfixturevalue("_migrated_sqlite"), db)

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{db}")
        async with session_factory(engine)() as s:
            await load_default_tariffs(s)
            await s.commit()
        await engine.dispose()

    asyncio.run(seed())
    run_state_machine_as_test(
        make_machine(db),
        settings=settings(
            max_examples=12,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
