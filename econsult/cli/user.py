"""`econsult user ...`: accounts from the command line (whoever runs it owns the machine)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from econsult.cli.common import open_database, settings
from econsult.models import Role


def cmd_user_add(args: argparse.Namespace) -> int:
    from econsult.accounts import users
    from econsult.clock import SystemClock
    from econsult.security.audit import Actor
    from econsult.security.passwords import Passwords

    if not args.password_stdin:
        print("error: pass --password-stdin and give the password on standard input",
              file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")

    from econsult.accounts.signatory import clean, set_signatory

    clean(args.credentials or "", args.registration or "")  # refused before anything is added

    async def run() -> None:
        db = await open_database(settings())
        try:
            user = await users.create_user(
                db, email=args.email, name=args.name, role=args.role, password=password,
                specialties=args.specialty or [], actor=Actor(None, "cli"), clock=SystemClock(),
                passwords=Passwords(), by=None, delegate_for=args.delegate_for or [],
            )
            if args.credentials or args.registration:
                await set_signatory(db, SystemClock(), None, user_id=user.id,
                                    credentials=args.credentials or "",
                                    registration=args.registration or "",
                                    actor=Actor(None, "cli"))
        finally:
            await db.dispose()
        extra = f" [{', '.join(user.specialties)}]" if user.specialties else ""
        if args.delegate_for:
            extra += f" for {', '.join(sorted({e.strip().lower() for e in args.delegate_for}))}"
        print(f"added {user.role} {user.email} (id {user.id}){extra}")

    asyncio.run(run())
    return 0


def cmd_user_mfa_reset(args: argparse.Namespace) -> int:
    from econsult.accounts import mfa
    from econsult.clock import SystemClock
    from econsult.errors import NotFound
    from econsult.security.audit import Actor

    async def run() -> int:
        db = await open_database(settings())
        try:
            await mfa.reset(db, email=args.email, actor=Actor(None, "cli"), clock=SystemClock())
        except NotFound as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        finally:
            await db.dispose()
        print(f"second factor reset for {args.email.strip().lower()}: their sessions ended; "
              "they set one up again at their next login")
        return 0

    return asyncio.run(run())


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("user", help="manage accounts").add_subparsers(dest="user_command",
                                                                        required=True)
    add = user.add_parser("add", help="add an account")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--specialty", action="append", metavar="SLUG")
    add.add_argument("--delegate-for", action="extend", nargs="+", metavar="GP_EMAIL",
                     help="a delegate's GPs (repeatable; at least one for --role delegate)")
    add.add_argument("--password-stdin", action="store_true")
    add.add_argument("--credentials", metavar="TEXT",
                     help="a specialist's credentials for signing answers, e.g. 'MD, FRCPC'")
    add.add_argument("--registration", metavar="NUMBER",
                     help="a specialist's registration (licence) number for signing answers")
    add.set_defaults(func=cmd_user_add)
    reset = user.add_parser("mfa-reset", help="remove an account's second factors (lost "
                            "phone): they enrol again at the next login")
    reset.add_argument("--email", required=True)
    reset.set_defaults(func=cmd_user_mfa_reset)
