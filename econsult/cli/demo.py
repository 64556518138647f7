"""`econsult demo`: migrate, seed demo accounts, rota and history, then serve."""

from __future__ import annotations

import argparse
import asyncio
import os

from econsult.cli.common import settings
from econsult.cli.serve import run


def cmd_demo(args: argparse.Namespace) -> int:
    from econsult.demo import seed

    # The demo logs in with the printed passwords alone; the login page says so.
    # An operator who sets ECONSULT_MFA_REQUIRED themselves keeps their choice.
    os.environ.setdefault("ECONSULT_MFA_REQUIRED", "none")
    for line in asyncio.run(seed.prepare(settings(), consults=args.consults)):
        print(line)
    if args.no_serve:
        return 0
    print(f"\nServing on http://{args.host}:{args.port}  (Ctrl+C to stop)", flush=True)
    run(host=args.host, port=args.port)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("demo", help="migrate, seed demo data, then serve")
    parser.add_argument("--consults", type=int, default=2000,
                        help="historical consults to generate (default 2000)")
    parser.add_argument("--no-serve", action="store_true", help="seed only")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.set_defaults(func=cmd_demo)
