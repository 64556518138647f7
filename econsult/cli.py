"""The `econsult` command. Each subcommand parses its arguments and calls one service."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from econsult import cli_backup, cli_demo
from econsult.config import ConfigError, Settings
from econsult.db import Database
from econsult.errors import DomainError
from econsult.schema import SchemaOutOfDate, check_schema_current
from econsult.security.keyring import KeyringError


def _settings() -> Settings:
    return Settings.from_env()


async def _open_database(settings: Settings) -> Database:
    """The database, refused with "run `econsult migrate`" rather than a traceback from
    a missing table when it is not at the head migration."""
    db = Database.from_settings(settings)
    try:
        await check_schema_current(db)
    except BaseException:
        await db.dispose()
        raise
    return db


def _require_schema(settings: Settings) -> None:
    async def check() -> None:
        await (await _open_database(settings)).dispose()

    asyncio.run(check())


def cmd_migrate(args: argparse.Namespace) -> int:
    from econsult.schema import migrate

    settings = _settings()
    created, added = asyncio.run(migrate(settings))
    if created:
        print(f"created key file {settings.key_file} (mode 0600): back it up apart from the "
              "database")
    print(f"database at head; {added} specialties added to the catalogue")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings()
    if args.workers > 1 and settings.is_sqlite:
        print("error: --workers > 1 needs PostgreSQL (ECONSULT_DATABASE_URL=postgresql+asyncpg:"
              "//...); SQLite is single-writer by design", file=sys.stderr)
        return 2
    uvicorn.run(
        "econsult.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # uvloop sets TCP_NODELAY on accepted sockets; the stock loop with several
        # workers adds ~40 ms per keep-alive request (uvicorn issue 3149).
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        log_level=args.log_level,
        ws_max_size=64 * 1024,
        # Queue events are a few hundred bytes of JSON: compressing them saves little
        # and costs every socket a zlib context and every event a deflate per socket
        # (bench/queue_ws.py).
        ws_per_message_deflate=False,
    )
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from econsult import accounts
    from econsult.clock import SystemClock
    from econsult.security.audit import Actor

    if not args.password_stdin:
        print("error: pass --password-stdin and give the password on standard input",
              file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")

    async def run() -> None:
        db = await _open_database(_settings())
        try:
            user = await accounts.create_user(
                db, email=args.email, name=args.name, role=args.role, password=password,
                specialties=args.specialty or [], actor=Actor(None, "cli"), clock=SystemClock(),
            )
        finally:
            await db.dispose()
        extra = f" [{', '.join(user.specialties)}]" if user.specialties else ""
        print(f"added {user.role} {user.email} (id {user.id}){extra}")

    asyncio.run(run())
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    from econsult.security import audit

    async def run() -> audit.VerifyResult:
        db = await _open_database(_settings())
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


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    from econsult import keys

    def progress(name: str, done: int, total: int) -> None:
        width = 30
        filled = width * done // total if total else width
        print(f"\r{name:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}",
              end="" if done < total else "\n", file=sys.stderr, flush=True)

    settings = _settings()
    _require_schema(settings)
    kek_id, counts = asyncio.run(keys.rotate(settings, progress=progress))
    summary = ", ".join(f"{n} {name}" for name, n in counts.items()) or "nothing yet"
    print(f"active KEK is now {kek_id}; re-wrapped {summary}")
    return 0


def cmd_keys_retire(args: argparse.Namespace) -> int:
    from econsult import keys

    settings = _settings()
    _require_schema(settings)
    asyncio.run(keys.retire(settings, args.kek_id))
    print(f"retired KEK {args.kek_id}")
    return 0


def cmd_images_verify(args: argparse.Namespace) -> int:
    from econsult import maintenance

    settings = _settings()
    _require_schema(settings)
    report = asyncio.run(maintenance.verify_images(settings))
    if report.ok:
        print(f"all {report.images} images decrypt (original and thumbnail)")
        return 0
    for failure in report.failures:
        print(f"FAILED {failure.image_id} ({failure.kind}): {failure.reason}")
    bad = len({f.image_id for f in report.failures})
    print(f"{bad} of {report.images} images failed to decrypt")
    return 1


def cmd_gc(args: argparse.Namespace) -> int:
    from econsult import maintenance

    settings = _settings()
    _require_schema(settings)
    report = asyncio.run(maintenance.gc(settings, min_age_seconds=args.min_age))
    for key in report.removed:
        print(f"removed {key}")
    print(f"removed {len(report.removed)} orphan blobs and {report.temp_files} stale temp "
          f"files; kept {report.kept_young} unreferenced blobs younger than {args.min_age:g} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="econsult", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("migrate", help="create or upgrade the database, key file and catalogue"
                   ).set_defaults(func=cmd_migrate)

    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                       help="proxies whose X-Forwarded-* headers are trusted")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)

    user = sub.add_parser("user", help="manage accounts").add_subparsers(dest="user_command",
                                                                        required=True)
    add = user.add_parser("add", help="add an account")
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=["gp", "specialist", "staff", "admin"])
    add.add_argument("--specialty", action="append", metavar="SLUG")
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_user_add)

    keys = sub.add_parser("keys", help="key-encryption keys").add_subparsers(
        dest="keys_command", required=True)
    keys.add_parser("rotate", help="new active KEK; re-wrap every data key"
                    ).set_defaults(func=cmd_keys_rotate)
    retire = keys.add_parser("retire", help="drop a KEK nothing is wrapped by any more")
    retire.add_argument("kek_id")
    retire.set_defaults(func=cmd_keys_retire)

    cli_demo.add_parser(sub)
    cli_backup.add_parser(sub)

    images = sub.add_parser("images", help="stored images").add_subparsers(
        dest="images_command", required=True)
    images.add_parser("verify", help="decrypt every image and report failures"
                      ).set_defaults(func=cmd_images_verify)

    gc = sub.add_parser("gc", help="remove blobs that no image row references")
    gc.add_argument("--min-age", type=float, default=3600.0, metavar="SECONDS",
                    help="spare blobs younger than this (their row may be on its way)")
    gc.set_defaults(func=cmd_gc)

    audit_cmd = sub.add_parser("audit", help="audit log").add_subparsers(
        dest="audit_command", required=True)
    audit_cmd.add_parser("verify", help="check the hash chain").set_defaults(
        func=cmd_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, KeyringError, DomainError, SchemaOutOfDate) as exc:
        message = exc.message if isinstance(exc, DomainError) else str(exc)
        print(f"error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
