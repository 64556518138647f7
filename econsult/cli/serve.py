"""`econsult serve`: the one place the app is run under uvicorn, so `serve` and `demo`
can never serve differently."""

from __future__ import annotations

import argparse
import sys

from econsult.cli.common import settings

# Longer than any client keeps an idle connection pooled (httpx 5 s, browsers and
# proxies up to 60 s), as nginx's 75 s default is.
KEEP_ALIVE_SECONDS = 75


def run(*, host: str, port: int, workers: int = 1, forwarded_allow_ips: str = "127.0.0.1",
        log_level: str = "info") -> None:
    import uvicorn

    uvicorn.run(
        "econsult.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        # uvloop sets TCP_NODELAY on accepted sockets; the stock loop with several
        # workers adds ~40 ms per keep-alive request (uvicorn issue 3149).
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        log_level=log_level,
        ws_max_size=64 * 1024,
        # Queue events are a few hundred bytes of JSON: compressing them saves little
        # and costs every socket a zlib context and every event a deflate per socket
        # (bench/queue_ws.py).
        ws_per_message_deflate=False,
        # Idle keep-alive connections are closed by the client first, never by us: a
        # server that times them out as soon as a client does (uvicorn's default 5 s,
        # httpx's default 5 s) closes connections the client is at that moment
        # reusing, and under a contended CPU, where the window between the two clocks
        # widens, the client gets "Server disconnected without sending a response"
        # or a reset (tests/reliability/test_keepalive.py reproduces it).
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    if args.workers > 1 and settings().is_sqlite:
        print("error: --workers > 1 needs PostgreSQL (ECONSULT_DATABASE_URL=postgresql+asyncpg:"
              "//...); SQLite is single-writer by design", file=sys.stderr)
        return 2
    run(host=args.host, port=args.port, workers=args.workers,
        forwarded_allow_ips=args.forwarded_allow_ips, log_level=args.log_level)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser("serve", help="run the web server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                       help="proxies whose X-Forwarded-* headers are trusted")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=cmd_serve)
