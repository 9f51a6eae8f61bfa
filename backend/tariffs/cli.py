"""``meterline tariffs load FILE.toml``: store tariffs from a file (see docs/prepaid.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys

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


def register(sub: SubParsers) -> None:
    sp = sub.add_parser("tariffs", help="tariff data: load a TOML file")
    tsub = sp.add_subparsers(dest="tariffs_command", required=True)
    load = tsub.add_parser("load", help="store the tariffs of a TOML file")
    load.add_argument("file")
    load.add_argument("--data-dir")
    load.set_defaults(func=_load)
