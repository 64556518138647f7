"""`econsult clients add | list | revoke`: FHIR API clients (SMART Backend Services).

Whoever runs the command owns the machine, so it acts as an administrator; each change
is audited with actor "cli".
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from econsult.cli.common import open_database, settings

_HELP_SCOPES = ("SMART system scopes, e.g. system/*.rs system/ServiceRequest.c "
                "system/Patient.c system/DocumentReference.c")


def cmd_clients_add(args: argparse.Namespace) -> int:
    from econsult.accounts import api_clients
    from econsult.clock import SystemClock
    from econsult.security.audit import Actor

    try:
        jwks = Path(args.jwks_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.jwks_file}: {exc}", file=sys.stderr)
        return 1

    async def run() -> None:
        db = await open_database(settings())
        try:
            client = await api_clients.register(
                db, name=args.name, jwks=jwks, gp_emails=args.gp, scopes=args.scope,
                actor=Actor(None, "cli"), clock=SystemClock(), by=None)
        finally:
            await db.dispose()
        print(f"added API client {client.id} ({client.name})")
        print(f"  client_id: {client.id}")
        print(f"  acts for: {', '.join(client.gps)}")
        print(f"  scopes:   {client.scopes}")
        for key in client.keys:
            print(f"  key {key.kid} ({key.alg}) thumbprint {key.thumbprint}")

    asyncio.run(run())
    return 0


def cmd_clients_list(args: argparse.Namespace) -> int:
    from econsult.accounts import api_clients

    async def run() -> None:
        db = await open_database(settings())
        try:
            clients = await api_clients.list_clients(db, by=None)
        finally:
            await db.dispose()
        if not clients:
            print("no API clients")
        for c in clients:
            status = f"revoked {c.revoked_at}" if c.revoked_at else "active"
            print(f"{c.id}  {c.name}  [{status}]  gps={','.join(c.gps)}  scopes={c.scopes}  "
                  f"keys={','.join(k.kid for k in c.keys)}")

    asyncio.run(run())
    return 0


def cmd_clients_revoke(args: argparse.Namespace) -> int:
    from econsult.accounts import api_clients
    from econsult.clock import SystemClock
    from econsult.security.audit import Actor

    async def run() -> None:
        db = await open_database(settings())
        try:
            client = await api_clients.revoke(db, client_id=args.client_id,
                                              actor=Actor(None, "cli"), clock=SystemClock(),
                                              by=None)
        finally:
            await db.dispose()
        print(f"revoked API client {client.id} ({client.name}); its tokens no longer work")

    asyncio.run(run())
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    clients = sub.add_parser("clients", help="FHIR API clients").add_subparsers(
        dest="clients_command", required=True)
    add = clients.add_parser("add", help="register an EMR with its public keys")
    add.add_argument("--name", required=True)
    add.add_argument("--jwks-file", required=True, metavar="F",
                     help="the client's public JWKS (JSON)")
    add.add_argument("--gp", required=True, action="extend", nargs="+", metavar="EMAIL",
                     help="a GP the client acts for (repeat, or list several)")
    add.add_argument("--scope", required=True, action="extend", nargs="+", metavar="S",
                     help=_HELP_SCOPES)
    add.set_defaults(func=cmd_clients_add)
    clients.add_parser("list", help="list API clients").set_defaults(func=cmd_clients_list)
    revoke = clients.add_parser("revoke", help="revoke a client and its tokens")
    revoke.add_argument("client_id", metavar="ID")
    revoke.set_defaults(func=cmd_clients_revoke)
