"""Operations: `econsult migrate`, `images verify`, `gc`, `backup DEST`, `restore SRC`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from econsult.cli.common import require_schema, settings


def cmd_migrate(args: argparse.Namespace) -> int:
    from econsult.ops.migrate import migrate

    config = settings()
    created, added = asyncio.run(migrate(config))
    if created:
        print(f"created key file {config.key_file} (mode 0600): back it up apart from the "
              "database")
    print(f"database at head; {added} specialties added to the catalogue")
    return 0


def _report_verify(images: int, failures: list[tuple[str, str, str]],
                   attachments: int = 0) -> int:
    if not failures:
        print(f"all {images} images decrypt (original and thumbnail)"
              + (f", and {attachments} PDF attachments" if attachments else ""))
        return 0
    for image_id, kind, reason in failures:
        print(f"FAILED {image_id} ({kind}): {reason}")
    bad = len({image_id for image_id, _, _ in failures})
    print(f"{bad} of {images} images failed to decrypt")
    return 1


def cmd_images_verify(args: argparse.Namespace) -> int:
    from econsult.ops import integrity

    config = settings()
    require_schema(config)
    report = asyncio.run(integrity.verify_images(config))
    return _report_verify(report.images,
                          [(f.image_id, f.kind, f.reason) for f in report.failures],
                          report.attachments)


def cmd_gc(args: argparse.Namespace) -> int:
    from econsult.ops import integrity

    config = settings()
    require_schema(config)
    report = asyncio.run(integrity.gc(config, min_age_seconds=args.min_age))
    for key in report.removed:
        print(f"removed {key}")
    print(f"removed {len(report.removed)} orphan blobs and {report.temp_files} stale temp "
          f"files; kept {report.kept_young} unreferenced blobs younger than {args.min_age:g} s")
    if report.expired_drafts:
        print(f"removed {report.expired_drafts} drafts older than {config.draft_days} days")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from econsult.ops import backup

    config = settings()
    report = asyncio.run(backup.backup(config, Path(args.dest)))
    counts = ", ".join(f"{n} {table}" for table, n in report.counts.items())
    print(f"backed up {counts}; {report.blobs} blobs, {report.bytes / 1e6:.1f} MB, "
          f"schema {report.schema_revision} -> {report.dest}")
    print(f"the keys are NOT in the backup: keep a copy of {config.key_file} (or "
          f"ECONSULT_MASTER_KEY) apart from it; it needs KEK(s) {', '.join(report.kek_ids)}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from econsult.db.schema import head_revision
    from econsult.ops import backup, integrity

    config = settings()
    report = asyncio.run(backup.restore(config, Path(args.src)))
    counts = ", ".join(f"{n} {table}" for table, n in report.counts.items())
    print(f"restored {counts}; {report.blobs} blobs into {config.data_dir}")
    if report.schema_revision != head_revision():
        print(f"the backup is at migration {report.schema_revision}: run `econsult migrate` "
              "before serving")
        return 0
    if args.no_verify:
        return 0
    result = asyncio.run(integrity.verify_images(config))
    if result.ok:
        print(f"all {result.images} images decrypt (original and thumbnail)"
              + (f", and {result.attachments} PDF attachments" if result.attachments else ""))
        return 0
    for failure in result.failures:
        print(f"FAILED {failure.image_id} ({failure.kind}): {failure.reason}", file=sys.stderr)
    print(f"{len({f.image_id for f in result.failures})} of {result.images} images failed "
          "to decrypt", file=sys.stderr)
    return 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("migrate", help="create or upgrade the database, key file and catalogue"
                   ).set_defaults(func=cmd_migrate)

    images = sub.add_parser("images", help="stored images").add_subparsers(
        dest="images_command", required=True)
    images.add_parser("verify", help="decrypt every image and report failures"
                      ).set_defaults(func=cmd_images_verify)

    gc = sub.add_parser("gc", help="remove blobs that no image row references")
    gc.add_argument("--min-age", type=float, default=3600.0, metavar="SECONDS",
                    help="spare blobs younger than this (their row may be on its way)")
    gc.set_defaults(func=cmd_gc)

    parser = sub.add_parser("backup", help="consistent online copy of the database and blobs "
                            "(not the keys)")
    parser.add_argument("dest", metavar="DEST", help="a new or empty directory")
    parser.set_defaults(func=cmd_backup)

    parser = sub.add_parser("restore", help="restore a backup into an empty data directory")
    parser.add_argument("src", metavar="SRC", help="a directory made by `econsult backup`")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip decrypting every image afterwards")
    parser.set_defaults(func=cmd_restore)
