"""``meterline users create``: the first operator, inspectors, customer logins."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

import msgspec

from backend.cliargs import SubParsers, settings_from


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("password: the two entries differ")
    return first


def _create(args: argparse.Namespace) -> int:
    from backend.auth.policy import PasswordRejected
    from backend.auth.schemas import UserCreate
    from backend.auth.service import UserError, create_user
    from backend.db import create_engine, session_factory

    settings = settings_from(args)
    try:
        data = msgspec.convert(
            {
                "username": args.username,
                "password": _read_password(args),
                "role": args.role,
                "display_name": args.display_name,
                "customer_number": args.customer,
                "grid_codes": args.grid or [],
            },
            UserCreate,
        )
    except (msgspec.ValidationError, ValueError) as exc:
        print(f"meterline users: {str(exc).replace('$.', '')}", file=sys.stderr)
        return 2

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                user = await create_user(session, data)
        except (UserError, PasswordRejected) as exc:
            print(f"meterline users: {exc}", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()
        print(f"user {user.username} created (id {user.id}, role {user.role})")
        return 0

    return asyncio.run(main())


def _run_on_user(args: argparse.Namespace, action: str) -> int:
    """``password``: set a new password (rules apply); ``reset-totp``: remove the second factor.
    Either ends every login of the user."""
    from backend.auth.policy import PasswordRejected
    from backend.auth.service import UserError, reset_totp, set_password
    from backend.db import create_engine, session_factory

    settings = settings_from(args)
    try:
        password = _read_password(args) if action == "password" else ""
    except ValueError as exc:
        print(f"meterline users: {exc}", file=sys.stderr)
        return 2

    async def main() -> int:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session:
                if action == "password":
                    await set_password(session, args.username, password)
                else:
                    await reset_totp(session, args.username)
        except (UserError, PasswordRejected) as exc:
            print(f"meterline users: {exc}", file=sys.stderr)
            return 2
        finally:
            await engine.dispose()
        done = "password set" if action == "password" else "second factor removed"
        print(f"user {args.username}: {done}; every login of the user has ended")
        return 0

    return asyncio.run(main())


def register(sub: SubParsers) -> None:
    sp = sub.add_parser("users", help="manage users")
    users = sp.add_subparsers(dest="users_command", required=True)
    c = users.add_parser("create", help="create a user (password from a prompt or stdin)")
    c.add_argument("--username", required=True)
    c.add_argument(
        "--role",
        required=True,
        choices=["customer", "inspector", "supervisor", "operator", "admin"],
    )
    c.add_argument("--customer", metavar="NUMBER", help="customer number (户号), role customer")
    c.add_argument("--grid", action="append", metavar="CODE", help="grid an inspector owns")
    c.add_argument("--display-name", default="")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    c.add_argument("--data-dir")
    c.set_defaults(func=_create)
    p = users.add_parser("password", help="set a user's password (ends their logins)")
    p.add_argument("--username", required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    p.add_argument("--data-dir")
    p.set_defaults(func=lambda a: _run_on_user(a, "password"))
    t = users.add_parser("reset-totp", help="remove a user's lost second factor (TOTP)")
    t.add_argument("--username", required=True)
    t.add_argument("--data-dir")
    t.set_defaults(func=lambda a: _run_on_user(a, "reset-totp"))
