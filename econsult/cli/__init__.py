"""The `econsult` command. Each group of subcommands is a module here; each subcommand
parses its arguments and calls one service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from econsult.cli import audit, clients, demo, keys, ops, serve, simulate, user
from econsult.config import ConfigError
from econsult.db.schema import SchemaOutOfDate
from econsult.errors import DomainError
from econsult.security.keyring import KeyringError

GROUPS = (ops, serve, user, keys, demo, audit, clients, simulate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="econsult", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.add_parser(sub)
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
