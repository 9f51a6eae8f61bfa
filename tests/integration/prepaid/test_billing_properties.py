"""Property test: whatever the readings — late, duplicated, dipping, wrapping, estimated, on a
meter that is replaced halfway — once they have all gone through metering's derived-data path
(consumption, then billing), the kWh billed to the account are the kWh consumption reports,
and the ledger is the exact bill of those intervals rated from scratch, rounded once."""

from __future__ import annotations

import asyncio
import itertools
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects.sqlite import insert

from backend.db import create_engine, session_factory
from backend.metering.derived import DerivedData, intervals_from
from backend.metering.intervals import HELD
from backend.metering.models import Meter, MeterStatus, Reading
from backend.prepaid import billing
from tests.support.ledger_check import ledger_mismatches
from tests.support.prepaid_data import TZ, load_default_tariffs, local_ms, make_account

HOUR = 3_600_000
START = local_ms(2026, 5, 6, 4)  # across the valley/peak boundaries of the default tariffs
WRAP = 10**9  # DL/T 645 XXXXXX.XX kWh wraps here (Wh)
_n = itertools.count()

# one reading as the generator means it: (hour, kind, amount) where kind is
# "step" (the register rises by amount), "dip" (a glitch amount below the last true value),
# "estimated" (an estimate of amount, quality estimated), "held" (an implausible value held
# for review: quarantine; neither billed nor counted)
Step = tuple[str, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(0, 4_000)),
        st.tuples(st.just("dip"), st.integers(1, 50_000)),
        st.tuples(st.just("estimated"), st.integers(0, 10**6)),
        st.tuples(st.just("held"), st.integers(0, 10**10)),
    ),
    min_size=1,
    max_size=8,
)


def curve(start_value: int, plan: list[Step], first_hour: int) -> list[tuple[int, int, str]]:
    """(ts, value, quality) of one meter's readings."""
    out = [(START + first_hour * HOUR, start_value, "good")]
    true = start_value
    for i, (kind, amount) in enumerate(plan, 1):
        ts = START + (first_hour + i) * HOUR
        if kind == "step":
            true = (true + amount) % WRAP
            out.append((ts, true, "good"))
        elif kind == "dip":
            out.append((ts, max(0, true - amount), "good"))
        elif kind == "held":
            out.append((ts, amount, HELD))
        else:
            out.append((ts, amount, "estimated"))
    return out


async def scenario(
    db: Path,
    old_plan: list[Step],
    new_plan: list[Step] | None,
    near_wrap: bool,
    order: list[int],
    batch: int,
    duplicates: list[int],
) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    sessions = session_factory(engine)
    try:
        async with sessions() as s:
            _, account, old = await make_account(s)
            meters = [old.id]
            readings = [(old.id, *r) for r in curve(WRAP - 6_000 if near_wrap else 0, old_plan, 0)]
            if new_plan is not None:  # replaced after the old one's last reading
                new = Meter(
                    meter_id=f"r{next(_n)}", agent_id="agent-1", customer_id=account.customer_id,
                    account_id=account.id, replaces_meter_id=old.id, protocol="dlt645",
                )  # fmt: skip
                s.add(new)
                old.status = MeterStatus.REMOVED
                await s.flush()
                meters.append(new.id)
                readings += [(new.id, *r) for r in curve(0, new_plan, len(old_plan) + 1)]
            await s.commit()
        derived = DerivedData(sessions, "Asia/Shanghai", [billing.on_readings_committed])
        # delivery: in the drawn order, some twice, a few at a time
        arrivals = [readings[i % len(readings)] for i in order] + readings
        arrivals += [readings[i % len(readings)] for i in duplicates]
        for at in range(0, len(arrivals), batch):
            chunk = arrivals[at : at + batch]
            async with sessions() as s:
                for pk, ts, value, quality in chunk:
                    await s.execute(
                        insert(Reading)
                        .values(
                            meter_pk=pk,
                            quantity="energy_import",
                            ts=ts,
                            value=value,
                            quality=quality,
                            received_at=ts,
                        )
                        .on_conflict_do_nothing()
                    )
                await s.commit()
            await derived.announce(
                intervals_from([(pk, "energy_import", ts) for pk, ts, *_ in chunk])
            )
            await derived.drain()
        assert derived.failures == 0
        await check(sessions, account.id, meters)
    finally:
        await engine.dispose()


async def check(sessions, account_id: int, meters: list[int]) -> None:  # type: ignore[no-untyped-def]
    """The kWh billed are the kWh consumption reports, and the ledger is the exact bill: every
    interval of every meter rated from scratch in time order, rounded once."""
    async with sessions() as s:
        assert await ledger_mismatches(s, account_id, meters, TZ) == []


@pytest.fixture
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / "billing.db"
    shutil.copy(request.getfixturevalue("_migrated_sqlite"), path)

    async def seed() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        async with session_factory(engine)() as s:
            await load_default_tariffs(s)
            await s.commit()
        await engine.dispose()

    asyncio.run(seed())
    return path


@given(
    old_plan=steps,
    new_plan=st.none() | steps,
    near_wrap=st.booleans(),
    order=st.lists(st.integers(0, 40), max_size=20),
    batch=st.integers(1, 6),
    duplicates=st.lists(st.integers(0, 40), max_size=4),
)
# a re-rating that withdraws charges and posts none after them: the fen the withdrawn charges
# carried must be trued up, or the posted total drifts from the rounded exact total
@example(
    old_plan=[("dip", 120), ("dip", 49), ("dip", 1), ("dip", 1), ("step", 0), ("step", 0),
              ("step", 0), ("dip", 1)],
    new_plan=[("step", 0), ("step", 0), ("dip", 1), ("step", 1), ("step", 0), ("step", 0),
              ("step", 0), ("dip", 1)],
    near_wrap=True, order=[1, 2, 13, 1, 1, 1, 1, 1, 1, 30], batch=1, duplicates=[],
)  # fmt: skip
@settings(
    max_examples=40,
    deadline=None,
    # no "explain" phase: its line tracer (Python < 3.12) makes one shrink step take minutes,
    # which ran the test past its timeout on a loaded machine and reported that as a failure
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.timeout(1200)  # 40 examples and a shrink, each a fresh scenario on SQLite
def test_billed_kwh_equal_consumed_kwh_and_the_ledger_the_exact_bill_for_any_readings(
    db: Path,
    old_plan: list[Step],
    new_plan: list[Step] | None,
    near_wrap: bool,
    order: list[int],
    batch: int,
    duplicates: list[int],
) -> None:
    asyncio.run(scenario(db, old_plan, new_plan, near_wrap, order, batch, duplicates))


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
