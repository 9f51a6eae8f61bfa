"""``meterline seed --accounts N --seed S``: build a synthetic utility (see docs/seed.md)."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sys
from datetime import date, datetime
from zoneinfo import ZoneInfo

from backend.cliargs import SubParsers, settings_from


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from backend.auth.passwords import hash_password
    from backend.db import create_engine
    from backend.seed.service import SeedSpec
    from backend.seed.store import SeedError, seed

    settings = settings_from(args)
    until = args.until or datetime.now(ZoneInfo(settings.timezone)).date()
    try:
        spec = SeedSpec(
            accounts=args.accounts, until=until, seed=args.seed, months=args.months,
            history_accounts=args.history_accounts, recent_days=args.recent_days,
            hourly_days=args.hourly_days, timezone=settings.timezone, prefix=args.prefix,
            customer_users=args.customer_users,
        )  # fmt: skip
    except ValueError as exc:
        print(f"meterline seed: {exc}", file=sys.stderr)
        return 2
    password = (
        args.password or os.environ.get("METERLINE_SEED_PASSWORD") or secrets.token_urlsafe(9)
    )

    async def main() -> int:
        engine = create_engine(settings.database_url)
        bar = tqdm(total=spec.accounts, desc="accounts", unit=" acc", disable=args.no_progress)
        try:
            report = await seed(
                engine, spec, settings, password_hash=hash_password(password), progress=bar.update
            )
        except SeedError as exc:
            print(f"meterline seed: {exc}", file=sys.stderr)
            return 3
        finally:
            bar.close()
            await engine.dispose()
        rows = ", ".join(f"{n} {t}" for t, n in sorted(report.rows.items()))
        print(f"seeded {report.accounts} accounts in {report.seconds:.1f} s: {rows}")
        path = settings.data_path / f"seed-{spec.key}-accounts.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(f"{u} {password}\n" for u in report.users + report.customer_usernames))
        print(f"logins ({len(report.users) + len(report.customer_usernames)}, one password) "
              f"in {path}")  # fmt: skip
        return 0

    return asyncio.run(main())


def register(sub: SubParsers) -> None:
    sp = sub.add_parser("seed", help="build a synthetic utility, deterministic from a seed")
    sp.add_argument("--accounts", type=int, required=True, help="customers (one account each)")
    sp.add_argument("--seed", type=int, default=1, help="the seed number (1)")
    sp.add_argument("--months", type=int, default=13, help="months of history (13)")
    sp.add_argument(
        "--history-accounts", type=int, default=None,
        help="accounts with the full history, spread evenly (default: all, at most 2000)",
    )  # fmt: skip
    sp.add_argument(
        "--recent-days", type=int, default=31,
        help="days of daily readings of the other accounts (31)",
    )  # fmt: skip
    sp.add_argument(
        "--hourly-days", type=int, default=2, help="hourly readings at the end of a history (2)"
    )
    sp.add_argument("--until", type=date.fromisoformat, help="local day the history ends (today)")
    sp.add_argument("--prefix", default="", help="natural-key prefix (default S<seed>)")
    sp.add_argument("--customer-users", type=int, default=20, help="customers with a login (20)")
    sp.add_argument(
        "--password", help="the seeded users' password (else METERLINE_SEED_PASSWORD or random)"
    )
    sp.add_argument("--data-dir", help="data directory (METERLINE_DATA_DIR)")
    sp.add_argument("--no-progress", action="store_true", help="no progress bar")
    sp.set_defaults(func=_run)
