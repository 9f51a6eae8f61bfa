"""`meterline payments reconcile FILE` on a migrated SQLite database: agreeing statements exit 0,
every difference is listed and exits 1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend import migrate
from backend.cli import main
from backend.db import create_engine, session_factory
from backend.prepaid.models import Channel, OrderStatus, PaymentOrder, PaymentProvider
from backend.prepaid.payments.providers import StatementLine
from backend.prepaid.payments.providers.simulated import trade_bill
from tests.support.world import build_world

PAID = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)  # 12:00 Beijing


async def paid_order(url: str, order_no: str, fen: int) -> None:
    engine = create_engine(url)
    try:
        world = await build_world(engine)
        async with session_factory(engine)() as s:
            s.add(
                PaymentOrder(
                    order_no=order_no, customer_id=world.alice, account_id=world.alice_account,
                    idempotency_key="cli-key-1", request_hash="x", channel=Channel.WECHAT,
                    provider=PaymentProvider.WECHAT, amount_fen=fen, status=OrderStatus.PAID,
                    actor="alice", created_at=PAID, expires_at=PAID + timedelta(minutes=30),
                    paid_at=PAID, provider_txn_id="4200000000000001",
                )
            )  # fmt: skip
            await s.commit()
    finally:
        await engine.dispose()


def test_the_cli_reconciles_a_wechat_trade_bill_against_the_ledger(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    asyncio.run(paid_order(url, "ML20261201AAAA", 5_000))
    monkeypatch.setenv("METERLINE_DATABASE_URL", url)
    agree = tmp_path / "agree.csv"
    agree.write_text(trade_bill([StatementLine("ML20261201AAAA", "4200000000000001", 5_000, PAID)]))
    assert main(["payments", "reconcile", str(agree), "--data-dir", str(tmp_path)]) == 0
    assert "matched 1, 0 differences" in capsys.readouterr().out
    differ = tmp_path / "differ.csv"
    differ.write_text(
        trade_bill(
            [
                StatementLine("ML20261201AAAA", "4200000000000001", 4_000, PAID),
                StatementLine("ML20261201BBBB", "4200000000000002", 100, PAID),
            ]
        )
    )
    assert main(["payments", "reconcile", str(differ), "--data-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "amount_differs\tML20261201AAAA" in out
    assert "missing_in_ledger\tML20261201BBBB" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,bill\n")
    assert main(["payments", "reconcile", str(bad), "--data-dir", str(tmp_path)]) == 2
