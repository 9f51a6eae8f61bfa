"""``meterline payments reconcile FILE``: compare a provider's statement with the ledger
(docs/prepaid.md, "Reconciliation"). Exit 0 when they agree, 1 when there are differences."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

import msgspec

from backend.cliargs import SubParsers, settings_from


def _reconcile(args: argparse.Namespace) -> int:
    from backend.db import create_engine, session_factory
    from backend.prepaid.models import PaymentProvider
    from backend.prepaid.payments import service
    from backend.prepaid.payments.providers.wechat import BillError, parse_trade_bill
    from backend.prepaid.payments.schemas import Reconciliation

    settings = settings_from(args)
    try:
        with open(args.file, encoding="utf-8-sig") as fh:
            lines, skipped = parse_trade_bill(fh.read())
    except (OSError, UnicodeDecodeError, BillError) as exc:
        print(f"meterline payments: {args.file}: {exc}", file=sys.stderr)
        return 2
    days = [date.fromisoformat(args.date)] if args.date else None

    async def go() -> Reconciliation:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as s:
                return await service.reconcile(
                    s, PaymentProvider(args.provider), lines, skipped, days
                )
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(go())
    except service.ReconcileError as exc:
        print(f"meterline payments: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(result)).decode())
    else:
        print(
            f"{result.provider.value} {', '.join(result.days)}: statement "
            f"{result.statement_payments} payments {result.statement_fen} fen, ledger "
            f"{result.ledger_payments} payments {result.ledger_fen} fen, matched {result.matched}"
            f", {len(result.differences)} differences"
        )
        for d in result.differences:
            print(
                f"{d.kind.value}\t{d.order_no}\t{d.provider_txn_id or '-'}\t"
                f"statement={d.statement_fen if d.statement_fen is not None else '-'}\t"
                f"ledger={d.ledger_fen if d.ledger_fen is not None else '-'}\t"
                f"account={d.account_id if d.account_id is not None else '-'}"
            )
    return 1 if result.differences else 0


def register(sub: SubParsers) -> None:
    sp = sub.add_parser("payments", help="online payments: reconcile a provider statement")
    psub = sp.add_subparsers(dest="payments_command", required=True)
    rec = psub.add_parser(
        "reconcile", help="list every difference between a statement and the ledger"
    )
    rec.add_argument("file", help="the provider's trade bill (WeChat Pay CSV format)")
    rec.add_argument("--provider", default="wechat", choices=["wechat", "simulated"])
    rec.add_argument("--date", help="Beijing date to compare (default: the bill's days)")
    rec.add_argument("--json", action="store_true", help="answer as JSON")
    rec.add_argument("--data-dir")
    rec.set_defaults(func=_reconcile)
