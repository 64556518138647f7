"""`econsult audit verify`."""

from __future__ import annotations

import argparse
import asyncio

from econsult.cli.common import open_database, settings


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from econsult.security import audit

    async def run() -> audit.VerifyResult:
        db = await open_database(settings())
        try:
            async with db.read() as session:
                return await audit.verify(session)
        finally:
            await db.dispose()

    result = asyncio.run(run())
    if result.ok:
        print(f"audit chain intact: {result.rows} entries")
        return 0
    print(f"audit chain BROKEN at entry {result.broken_id}: {result.reason}")
    return 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit_cmd = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True)
    audit_cmd.add_parser("verify", help="check the hash chain").set_defaults(
        func=cmd_audit_verify)
