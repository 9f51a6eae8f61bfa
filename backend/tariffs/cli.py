"""``meterline tariffs``: ``load FILE.toml`` stores tariffs from a file, ``list`` shows the
tariffs in force, ``assign ACCOUNT SCHEDULE FROM`` bills an account on another schedule,
``issue YYYY-MM`` issues a month's postpaid bills (see docs/tariffs.md)."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

from backend.cliargs import SubParsers, settings_from


def _load(args: argparse.Namespace) -> int:
    from backend.db import create_engine, session_factory
    from backend.tariffs.loader import load_file
    from backend.tariffs.model import TariffError
    from backend.tariffs.service import store_tariffs

    settings = settings_from(args)

    async def go() -> tuple[int, int]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as s:
                result = await store_tariffs(s, load_file(args.file))
                await s.commit()
                return result
        finally:
            await engine.dispose()

    try:
        added, unchanged = asyncio.run(go())
    except TariffError as exc:
        print(f"meterline tariffs: {exc}", file=sys.stderr)
        return 1
    print(f"tariffs: {added} added, {unchanged} already stored")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def _list(args: argparse.Namespace) -> int:
    from backend.db import create_engine, session_factory
    from backend.tariffs.service import InForce, in_force, schedules

    settings = settings_from(args)
    day = args.on or datetime.now(ZoneInfo(settings.timezone)).date()

    async def go() -> list[InForce]:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as s:
                return in_force(await schedules(s), day)
        finally:
            await engine.dispose()

    rows = asyncio.run(go())
    print(f"tariffs in force on {day.isoformat()}: {len(rows)}")
    for r in rows:
        t = r.tariff
        until = r.until.isoformat() if r.until else "-"
        tiers = "/".join(str(w // 1000) for w in t.tiers_wh) or "-"
        prices = " ".join(f"{p.value}={','.join(map(str, row))}" for p, row in t.prices.items())
        print(
            f"{r.schedule:<24} {t.code:<16} {t.category.value:<24} "
            f"{t.effective_from.isoformat()}..{until} tiers_kwh={tiers} {prices}  {t.name}"
        )
    return 0


def _assign(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from backend.accounts.models import Account, Customer
    from backend.db import create_engine, session_factory
    from backend.errors import ServiceError
    from backend.prepaid import billing
    from backend.tariffs.service import assign, meters_of

    settings = settings_from(args)
    tz = ZoneInfo(settings.timezone)

    async def go() -> str:
        engine = create_engine(settings.database_url)
        try:
            sessions = session_factory(engine)
            async with sessions() as s:
                account = await s.scalar(select(Account).where(Account.number == args.account))
                if account is None:
                    raise LookupError(f"no account {args.account!r}")
                customer = await s.get(Customer, account.customer_id)
                assert customer is not None
                _row, created = await assign(
                    s, account, customer.category, args.schedule, args.effective_from, "cli"
                )
                meters = await meters_of(s, account.id)
                await s.commit()
            if created and meters:
                d = args.effective_from
                ms = int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp() * 1000)
                await billing.bill_meters(sessions, dict.fromkeys(meters, ms), tz)
            return "assigned" if created else "already assigned"
        finally:
            await engine.dispose()

    try:
        outcome = asyncio.run(go())
    except (LookupError, ServiceError) as exc:
        print(f"meterline tariffs: {exc}", file=sys.stderr)
        return 1
    print(f"{args.account}: {outcome} {args.schedule} from {args.effective_from.isoformat()}")
    return 0


def _month(text: str) -> str:
    if not re.fullmatch(r"(19[7-9][0-9]|2[0-9]{3})-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"not a month YYYY-MM: {text!r}")
    return text


def _issue(args: argparse.Namespace) -> int:
    from backend.db import create_engine, session_factory
    from backend.tariffs.bills.service import issue_all
    from backend.types import utcnow

    settings = settings_from(args)
    tz = ZoneInfo(settings.timezone)

    async def go() -> tuple[int, int]:
        engine = create_engine(settings.database_url)
        try:
            r = await issue_all(
                session_factory(engine), args.month, tz, due_day=settings.postpaid_due_day,
                now=utcnow(),
            )  # fmt: skip
            return r.issued, r.already
        finally:
            await engine.dispose()

    issued, already = asyncio.run(go())
    print(f"bills {args.month}: {issued} issued, {already} already issued")
    return 0


def register(sub: SubParsers) -> None:
    sp = sub.add_parser("tariffs", help="tariff data: load a TOML file, list, assign")
    tsub = sp.add_subparsers(dest="tariffs_command", required=True)
    load = tsub.add_parser("load", help="store the tariffs of a TOML file")
    load.add_argument("file")
    load.add_argument("--data-dir")
    load.set_defaults(func=_load)
    ls = tsub.add_parser("list", help="the tariff of every schedule in force on a day")
    ls.add_argument("--on", type=_day, help="local day YYYY-MM-DD (default today)")
    ls.add_argument("--data-dir")
    ls.set_defaults(func=_list)
    assign = tsub.add_parser("assign", help="bill an account on a schedule from a day")
    assign.add_argument("account", help="account number")
    assign.add_argument("schedule", help="schedule key (meterline tariffs list)")
    assign.add_argument("effective_from", type=_day, help="local day YYYY-MM-DD")
    assign.add_argument("--data-dir")
    assign.set_defaults(func=_assign)
    issue = tsub.add_parser("issue", help="issue a month's bill of every postpaid account")
    issue.add_argument("month", type=_month, help="local month YYYY-MM")
    issue.add_argument("--data-dir")
    issue.set_defaults(func=_issue)
