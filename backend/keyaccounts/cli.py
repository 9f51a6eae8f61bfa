"""``meterline keyaccounts recompute [--month YYYY-MM]``: segments, credit ratings, value tags
and service levels as of the end of a month (default: the month that last closed), recorded
as that month's run (docs/key-accounts.md). Running a month again gives the same result."""

from __future__ import annotations

import argparse
import asyncio
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from backend.cliargs import SubParsers, settings_from


def _month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a month YYYY-MM")
    return text


def _recompute(args: argparse.Namespace) -> int:
    from backend.db import create_engine, session_factory
    from backend.keyaccounts.schemas import MonthRun
    from backend.keyaccounts.service import last_closed_month, run_month

    settings = settings_from(args)
    tz = ZoneInfo(settings.timezone)
    now = datetime.now(UTC)
    month = args.month or last_closed_month(now, tz)

    async def go() -> MonthRun:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as s:
                return await run_month(s, month, tz, "cli", now)
        finally:
            await engine.dispose()

    run = asyncio.run(go())
    r = run.result
    print(
        f"key accounts {run.month}: {r.customers} customers, A {r.a} B {r.b} C {r.c}, "
        f"{r.key_accounts} key accounts; tags +{run.tags_added} -{run.tags_removed}"
    )
    return 0


def register(sub: SubParsers) -> None:
    sp = sub.add_parser("keyaccounts", help="key accounts: the monthly segmentation run")
    ka = sp.add_subparsers(dest="keyaccounts_command", required=True)
    rc = ka.add_parser("recompute", help="segments, credit, value tags as of a month's end")
    rc.add_argument("--month", type=_month, help="YYYY-MM (default: the last closed month)")
    rc.add_argument("--data-dir", help="data directory (METERLINE_DATA_DIR)")
    rc.set_defaults(func=_recompute)
