"""The demo has issued postpaid bills and an overdue household with late fees and a reminder."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from backend.accounts.models import Account
from backend.db import create_engine, session_factory
from backend.demo import DEFAULT_METERS, DEFAULT_SPEED, prepare
from backend.prepaid.models import Notice, NoticeKind
from backend.settings import load_settings
from backend.tariffs.bills import service as bills
from backend.tariffs.bills.models import IssuedBill


async def test_the_demo_has_issued_bills_and_an_overdue_account_with_late_fees(
    tmp_path: Path,
) -> None:
    settings = load_settings(env={}, data_dir=str(tmp_path / "var"), log_level="WARNING")
    await prepare(settings, meters=DEFAULT_METERS, speed=DEFAULT_SPEED)
    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as s:
            account = await s.scalar(select(Account).where(Account.number == "ADEMO-ARREARS"))
            assert account is not None
            states = await bills.bill_states(s, account.id)
            issued = await s.scalar(select(func.count()).select_from(IssuedBill))
            kinds = set(
                (await s.scalars(select(Notice.kind).where(Notice.account_id == account.id))).all()
            )
    finally:
        await engine.dispose()
    # 100 kWh and 80 kWh at 0.4883 元 (RES-2026 tier 1), then a month without use
    assert [st.bill.total_fen for st in states] == [4883, 3906, 0]
    assert [st.owed_fen for st in states[:2]] == [4883, 3906]
    assert states[0].late_fee_fen > 0
    assert states[1].late_fee_fen > 0
    assert NoticeKind.BILL_OVERDUE in kinds
    assert issued is not None
    assert issued > 3
