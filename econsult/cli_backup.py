"""`econsult backup DEST` and `econsult restore SRC`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from econsult.config import Settings


def cmd_backup(args: argparse.Namespace) -> int:
    from econsult import backup

    settings = Settings.from_env()
    report = asyncio.run(backup.backup(settings, Path(args.dest)))
    counts = ", ".join(f"{n} {table}" for table, n in report.counts.items())
    print(f"backed up {counts}; {report.blobs} blobs, {report.bytes / 1e6:.1f} MB, "
          f"schema {report.schema_revision} -> {report.dest}")
    print(f"the keys are NOT in the backup: keep a copy of {settings.key_file} (or "
          f"ECONSULT_MASTER_KEY) apart from it; it needs KEK(s) {', '.join(report.kek_ids)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from econsult import backup, maintenance
    from econsult.schema import head_revision

    settings = Settings.from_env()
    report = asyncio.run(backup.restore(settings, Path(args.src)))
    counts = ", ".join(f"{n} {table}" for table, n in report.counts.items())
    print(f"restored {counts}; {report.blobs} blobs into {settings.data_dir}")
    if report.schema_revision != head_revision():
        print(f"the backup is at migration {report.schema_revision}: run `econsult migrate` "
              "before serving")
        return 0
    if args.no_verify:
        return 0
    result = asyncio.run(maintenance.verify_images(settings))
    if result.ok:
        print(f"all {result.images} images decrypt (original and thumbnail)")
        return 0
    for failure in result.failures:
        print(f"FAILED {failure.image_id} ({failure.kind}): {failure.reason}", file=sys.stderr)
    print(f"{len({f.image_id for f in result.failures})} of {result.images} images failed "
          "to decrypt", file=sys.stderr)
    return 1


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("backup", help="consistent online copy of the database and blobs "
                            "(not the keys)")
    parser.add_argument("dest", metavar="DEST", help="a new or empty directory")
    parser.set_defaults(func=cmd_backup)

    parser = sub.add_parser("restore", help="restore a backup into an empty data directory")
    parser.add_argument("src", metavar="SRC", help="a directory made by `econsult backup`")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip decrypting every image afterwards")
    parser.set_defaults(func=cmd_restore)
