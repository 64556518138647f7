"""`econsult keys rotate | reindex | retire KEK_ID`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from econsult.cli.common import require_schema, settings


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from econsult.ops import keys

    def progress(name: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        print(f"\r{name:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
              end="" if done < total else "\n", file=sys.stderr, flush=True)

    config = settings()
    require_schema(config)
    kek_id, counts = asyncio.run(keys.rotate(config, progress=progress))
    summary = ", ".join(f"{n} {name}" for name, n in counts.items()) or "nothing yet"
    print(f"active KEK is now {kek_id}; re-wrapped {summary}")
    return 0


def cmd_keys_retire(args: argparse.Namespace) -> int:
    from econsult.ops import keys

    config = settings()
    require_schema(config)
    asyncio.run(keys.retire(config, args.kek_id))
    print(f"retired KEK {args.kek_id}")
    return 0


def cmd_keys_reindex(args: argparse.Namespace) -> int:
    from econsult.consults.search import reindex
    from econsult.db import Database
    from econsult.security.keyring import load_keyring

    config = settings()
    require_schema(config)

    async def run() -> int:
        db = Database.from_settings(config)
        try:
            return await reindex(db, load_keyring(config.master_key, config.key_file))
        finally:
            await db.dispose()

    print(f"search index written for {asyncio.run(run())} consults")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="key-encryption keys").add_subparsers(
        dest="keys_command", required=True)
    keys.add_parser("rotate", help="new active KEK; re-wrap every data key"
                    ).set_defaults(func=cmd_keys_rotate)
    keys.add_parser("reindex", help="write search tokens for consults that lack current ones"
                    ).set_defaults(func=cmd_keys_reindex)
    retire = keys.add_parser("retire", help="drop a KEK nothing is wrapped by any more")
    retire.add_argument("kek_id")
    retire.set_defaults(func=cmd_keys_retire)
