"""The ``meterline`` command: demo, serve, ingest, migrate, import, asyncapi."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from backend.cliargs import SubParsers, log_level, settings_from
from backend.settings import Settings, SettingsError

if TYPE_CHECKING:
    from backend.metering.derived import Follower

log = logging.getLogger("meterline")


def _cmd_migrate(args: argparse.Namespace) -> int:
    from backend import migrate

    settings = settings_from(args)
    if args.revision.startswith("-"):
        migrate.downgrade(settings.database_url, args.revision)
    else:
        migrate.upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}: {settings.database_url}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from backend.server import serve, serve_workers

    settings = settings_from(args)
    if args.migrate:
        from backend import migrate

        migrate.upgrade(settings.database_url)
    if settings.http_workers > 1:
        serve_workers(settings)  # METERLINE_HTTP_WORKERS processes on one port
        return 0
    asyncio.run(serve(settings))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from backend import heap
    from backend.demo import run_demo

    settings = settings_from(args)
    heap.settle()
    asyncio.run(
        run_demo(settings, prefer_mosquitto=not args.amqtt, meters=args.meters, speed=args.speed)
    )
    return 0


def _cmd_asyncapi(args: argparse.Namespace) -> int:
    from backend.asyncapi import render

    text = render()
    if args.check:
        with open(args.output, encoding="utf-8") as fh:
            if fh.read() != text:
                print(f"{args.output} is stale: run `meterline asyncapi`", file=sys.stderr)
                return 1
        return 0
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"wrote {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="meterline", description=__doc__)
    p.add_argument("--settings", help="TOML settings file (else METERLINE_SETTINGS_FILE)")
    p.add_argument(
        "--log-level", help="log level of every logger, the server's access log too"
        " (else METERLINE_LOG_LEVEL, else INFO)",
    )  # fmt: skip
    sub = p.add_subparsers(dest="command", required=True)

    def http_opts(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--host", help="listen address (METERLINE_HTTP_HOST)")
        sp.add_argument("--port", type=int, help="listen port (METERLINE_HTTP_PORT)")
        sp.add_argument("--data-dir", help="data directory (METERLINE_DATA_DIR)")

    sp = sub.add_parser("demo", help="run everything on embedded defaults (SQLite, local broker)")
    http_opts(sp)
    sp.add_argument("--amqtt", action="store_true", help="use the in-process amqtt broker")
    sp.add_argument("--meters", type=int, default=12, help="simulated AMI meters (12)")
    sp.add_argument(
        "--speed",
        type=float,
        default=60.0,
        help="simulated seconds per real second (60: a day of load in 24 minutes)",
    )
    sp.set_defaults(func=_cmd_demo)

    sp = sub.add_parser("serve", help="run the HTTP API (and ingestion unless METERLINE_INGEST=0)")
    http_opts(sp)
    sp.add_argument("--migrate", action="store_true", help="apply migrations first")
    sp.set_defaults(func=_cmd_serve)

    sp = sub.add_parser("migrate", help="apply database migrations (Alembic)")
    sp.add_argument("revision", nargs="?", default="head", help="target, default head")
    sp.add_argument("--data-dir")
    sp.set_defaults(func=_cmd_migrate)

    sp = sub.add_parser("asyncapi", help="write docs/asyncapi.yaml from the contract Structs")
    sp.add_argument("--output", default="docs/asyncapi.yaml")
    sp.add_argument("--check", action="store_true", help="fail if the file is stale")
    sp.set_defaults(func=_cmd_asyncapi)

    _capability_commands(sub)
    return p


def _capability_commands(sub: SubParsers) -> None:
    """Sub-commands of the capabilities (users, import, ingest, payments, seed, tariffs). Each
    capability's ``cli`` module has a ``register(sub)`` and imports ``backend.cliargs``, never
    this module: the tree is built here, top down, with no registry filled at import time."""
    from backend.auth import cli as users
    from backend.importer import cli as importer
    from backend.keyaccounts import cli as keyaccounts
    from backend.metering.ingest import command as ingest
    from backend.prepaid.payments import cli as payments
    from backend.seed import cli as seed
    from backend.tariffs import cli as tariffs

    # ingest follows what it commits, as serve does: it is handed billing as serve's app is
    follow = functools.partial(ingest.register, followers=_derived_followers)
    for register in (users.register, importer.register, keyaccounts.register, follow,
                     payments.register, seed.register, tariffs.register):  # fmt: skip
        register(sub)


def _derived_followers(settings: Settings) -> list[Follower]:
    from backend.app import derived_followers

    return derived_followers(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        logging.basicConfig(
            level=log_level(args), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        return int(args.func(args))
    except SettingsError as exc:
        print(f"meterline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
