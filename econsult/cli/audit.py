"""`econsult audit verify` and `econsult audit checkpoint`."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from econsult.cli.common import open_database, settings


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from econsult.ops import audit_keys
    from econsult.security import audit

    async def run() -> audit.VerifyResult:
        config = settings()
        db = await open_database(config)
        try:
            return await audit_keys.verify(db, config)
        finally:
            await db.dispose()

    result = asyncio.run(run())
    if result.ok:
        print(f"audit chain intact: {result.rows} entries")
        return 0
    where = f"entry {result.broken_id}" if result.broken_id is not None else "a checkpoint"
    print(f"audit chain BROKEN at {where}: {result.reason}")
    return 1


def cmd_audit_checkpoint(args: argparse.Namespace) -> int:
    from econsult.ops import audit_keys
    from econsult.security.audit_checkpoints import Checkpoint, CheckpointError

    async def run() -> Checkpoint | None:
        config = settings()
        db = await open_database(config)
        try:
            return await audit_keys.checkpoint(db, config, datetime.now(UTC))
        finally:
            await db.dispose()

    try:
        made = asyncio.run(run())
    except audit_keys.ChainBroken as exc:
        print(f"{exc}; no checkpoint written")
        return 1
    except CheckpointError as exc:
        print(f"audit checkpoints BROKEN: {exc}; no checkpoint written")
        return 1
    assert made is not None
    print(made.line())
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit_cmd = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True)
    audit_cmd.add_parser("verify", help="check the chain, its MACs and every checkpoint"
                         ).set_defaults(func=cmd_audit_verify)
    audit_cmd.add_parser("checkpoint", help="sign the head and append it to "
                         "audit-checkpoints in the data directory").set_defaults(
        func=cmd_audit_checkpoint)
