"""JSON queue listing: GET /api/v1/consults as a dermatologist with ~50 consults in the
queue, through a real `econsult serve`, vs a bare Starlette endpoint under the same
uvicorn settings (uvloop, httptools, one process) running the same query with sync
sqlite3 on the same database file and returning the same summary fields.

Load: `--conns` keep-alive connections from another process, each sending its next
GET when the answer arrives (closed loop), for `--seconds`; req/s and latencies.

    .venv/bin/python -m bench.listing [--consults 50] [--seconds 8] [--conns 8]
    .venv/bin/python -m bench.listing bare --db PATH --port P --user ID   (bare app alone)
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from bench.common import (
    HOST,
    Figure,
    Server,
    client_for,
    free_port,
    hammer,
    start,
    stop_process,
    submit_consult,
    wait_http,
)

# The rows `consults.listing.page_for` reads for a specialist's queue (one page of 50
# and one to know there are more), spelled out: the real one also decrypts the name,
# birth date and question of each row and counts its photos.
QUERY = ("SELECT * FROM consults WHERE (consults.assigned_to = ? OR (consults.state = 'pooled'"
         " AND consults.specialty IN (?))) AND consults.state IN ('assigned', 'awaiting_gp',"
         " 'in_review', 'pooled') ORDER BY consults.respond_due_at IS NULL,"
         " coalesce(consults.respond_due_at, consults.submitted_at), consults.submitted_at,"
         " consults.id LIMIT 51")


def bare_app(db_path: Path, user_id: int, specialty: str) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")

    async def consults(request: Request) -> JSONResponse:
        rows = conn.execute(QUERY, (user_id, specialty)).fetchall()
        return JSONResponse({"consults": [{
            "id": r["id"], "state": r["state"], "specialty": r["specialty"],
            "urgency": r["urgency"], "assigned_to": r["assigned_to"],
            "due_at": r["respond_due_at"], "ack_due_at": r["ack_due_at"],
            "submitted_at": r["submitted_at"], "updated_at": r["updated_at"],
            "at_risk": r["at_risk_at"] is not None, "breached": r["breached_at"] is not None,
            "converted_to": r["converted_to"]} for r in rows]})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/consults", consults), Route("/healthz", healthz)])


async def _seed(server: Server, consults: int) -> tuple[str, dict[str, str], int]:
    """Submit `consults` dermatology consults; the cookie and id of the specialist whose
    queue holds them."""
    gp = await client_for(server.base, "gp@demo.econsult.org")
    try:
        assigned = {(await submit_consult(gp)).json()["assigned_to"] for _ in range(consults)}
    finally:
        await gp.aclose()
    for email in ("derm1@demo.econsult.org", "derm2@demo.econsult.org"):
        c = await client_for(server.base, email)
        try:
            me = (await c.get("/api/v1/me")).json()["user"]
            if assigned <= {None, me["id"]}:
                cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
                return email, {"Cookie": cookie}, int(me["id"])
        finally:
            await c.aclose()
    raise RuntimeError(f"no dermatologist sees all the consults (assigned to {assigned})")


def run(consults: int = 50, seconds: float = 8.0, conns: int = 8) -> list[Figure]:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool, Server() as server:
        email, headers, user_id = asyncio.run(_seed(server, consults))
        queue = asyncio.run(_count(server, email))
        pool.submit(hammer, server.port, "/api/v1/consults", headers, 2, 1.0).result()
        real = pool.submit(hammer, server.port, "/api/v1/consults", headers, conns,
                           seconds).result()
        port = free_port()
        bare_proc = start([sys.executable, "-m", "bench.listing", "bare", "--db",
                           str(server.db_path), "--port", str(port), "--user", str(user_id)])
        try:
            wait_http(f"http://{HOST}:{port}/healthz", bare_proc)
            pool.submit(hammer, port, "/consults", {}, 2, 1.0).result()
            bare = pool.submit(hammer, port, "/consults", {}, conns, seconds).result()
        finally:
            stop_process(bare_proc)
    ok = real["rps"] >= 0.5 * bare["rps"] and not real["errors"]
    return [Figure("listing", f"GET /api/v1/consults ({queue} in queue)", real["rps"], "req/s",
                   raw=bare["rps"], target=">= 0.5x bare Starlette + sqlite3", ok=ok,
                   detail={"econsult": real, "bare": bare, "as": email, "conns": conns})]


async def _count(server: Server, email: str) -> int:
    c = await client_for(server.base, email)
    try:
        return len((await c.get("/api/v1/consults")).json()["consults"])
    finally:
        await c.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=["bench", "bare"], default="bench")
    parser.add_argument("--consults", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--conns", type=int, default=8)
    parser.add_argument("--db", type=Path)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "bare":
        import uvicorn

        uvicorn.run(bare_app(args.db, args.user, "dermatology"), host=HOST, port=args.port,
                    loop="uvloop", http="httptools", log_level="warning")
        return
    for f in run(args.consults, args.seconds, args.conns):
        print(f.as_dict())


if __name__ == "__main__":
    main()
