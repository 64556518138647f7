"""Event delivery across two `econsult serve` processes on PostgreSQL (LISTEN/NOTIFY), vs
two bare processes doing the same hop with `pg_notify` and `websockets`.

A throwaway database and data directory are seeded (bench/pg_write.py) and two
servers run on them, one worker each on its own port: A (where the GP submits) and B
(where the N WebSocket clients are connected, default 200). An event committed by A
reaches B's sockets only over the bus (econsult/realtime/pgbus.py): A NOTIFYs each
event's id after the commit, B's listener hears it, reads the events back from
`consult_events` (replay.events_by_id) and delivers them to its local subscribers.

The clients (the `websockets` package, one spawned process of their own, as in
bench/queue_ws.py) log in, on B, as staff (who hear every event) and as the
dermatologists a new consult reaches, with B's Origin. The GP submits K consults
(default 25) to A, 200 ms apart, no photos. A submission publishes two events
("submitted", then "assigned" or "pooled"); the delay of one = the moment the last of
the N clients has received both - A's 201 (sent after both NOTIFYs).

Raw limit: `python -m bench.pg_events bare`, a process that LISTENs on a channel with a
bare asyncpg connection and on each notification broadcasts one message of the size
and shape of econsult's event frames (queue_ws._event_like) to its N bare `websockets`
connections (`websockets.broadcast`, no compression); the driver (this process) sends
two `pg_notify` per consult on its own connection (autocommit: each is its own
commit), with payloads of the size of econsult's (an event id, ids only). Delay = the
last of the N clients has both messages - the return of the second `pg_notify`. The
bare listener does not read anything back from the database: econsult's read of the
events (one query per batch of ids) is part of what the ratio shows.

The 2 cores are shared between server B (its sockets and the fan-out), server A
(idle but for the submissions), the PostgreSQL backends, the clients' process and
this driver; in the raw phase, between the bare listener, the clients and the
backends.

    .venv/bin/python -m bench.pg_events [--clients 200] [--events 25] [--quick]
    .venv/bin/python -m bench.pg_events bare --port P --dsn URL --channel C
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import Manager, get_context
from typing import Any

from bench.common import (
    HOST,
    ROOT,
    Figure,
    client_for,
    free_port,
    ms_summary,
    raise_nofile,
    start,
    stop_process,
    submit_consult,
    wait_http,
)
from bench.pg_write import ADMIN_URL, answers, throwaway_database
from bench.queue_ws import (
    EVENTS_PER_SUBMISSION,
    PAUSE_BETWEEN_EVENTS,
    _event_like,
    _wait_port,
    clients,
)

RAW_CHANNEL = "bench_raw_events"


def _measure(pool: ProcessPoolExecutor, manager: Any, url: str, origin: str,
             headers: list[dict[str, str]], n: int, fire: Any) -> dict[str, Any]:
    control = manager.Queue()
    future: Future[dict[str, Any]] = pool.submit(clients, url, headers, origin, n, control,
                                                   EVENTS_PER_SUBMISSION)
    ready = None
    deadline = time.monotonic() + 180
    while ready is None:
        if future.done():
            future.result()  # raises what went wrong
        try:
            ready = control.get(timeout=1)
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError("clients did not connect within 180 s") from None
    time.sleep(1.0)
    try:
        sent = fire()
        time.sleep(1.0)
    finally:
        control.put("stop")
    got = future.result(timeout=120)
    delays, incomplete = [], 0
    for key, at in sent.items():
        count, last = got["last"].get(key, (0, float("nan")))
        if count < n:
            incomplete += 1
        else:
            delays.append(last - at)
    return {**ms_summary(delays), "connected": ready["connected"],
            "messages_per_client_per_consult": got["received"] / max(1, n * len(sent)),
            "incomplete_consults": incomplete, "loadavg": os.getloadavg()}


# -- econsult: A and B ----------------------------------------------------------------

def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, int]:
    port = free_port()
    proc = start([sys.executable, "-m", "econsult", "serve", "--workers", "1", "--host",
                  HOST, "--port", str(port), "--log-level", "warning"], env=env)
    base = f"http://{HOST}:{port}"
    try:
        wait_http(f"{base}/healthz", proc)
    except BaseException:
        stop_process(proc)
        raise
    return proc, base, port


async def _audience(a: str, b: str) -> tuple[list[dict[str, str]], str]:
    """Cookies (sessions opened on B) of staff and of the dermatologists a new consult
    reaches, found by submitting one on A."""
    gp = await client_for(a, "gp@demo.econsult.org")
    try:
        r = await submit_consult(gp)
        r.raise_for_status()
        assigned_to = r.json()["assigned_to"]
    finally:
        await gp.aclose()
    cookies, hears = [], []
    for email in ("derm1@demo.econsult.org", "derm2@demo.econsult.org",
                  "staff@demo.econsult.org"):
        for _ in range(4):  # a few sessions per account
            c = await client_for(b, email)
            me = (await c.get("/api/v1/me")).json()["user"]
            if me["role"] == "staff" or assigned_to in (None, me["id"]):
                cookies.append({"Cookie": "; ".join(f"{k}={v}" for k, v in c.cookies.items())})
                hears.append(email)
            await c.aclose()
    return cookies, ", ".join(sorted(set(hears)))


async def _econsult_events(a: str, events: int) -> dict[str, float]:
    gp = await client_for(a, "gp@demo.econsult.org")
    sent = {}
    try:
        for _ in range(events):
            r = await submit_consult(gp)
            now = time.perf_counter()
            r.raise_for_status()
            sent[r.json()["id"]] = now
            await asyncio.sleep(PAUSE_BETWEEN_EVENTS)
    finally:
        await gp.aclose()
    return sent


async def _payload_size(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT length(max(id)::text) FROM consult_events"))
    finally:
        await conn.close()


# -- the bare pair ----------------------------------------------------------------------

def _key(i: int) -> str:
    return f"00000000-0000-4000-8000-{i:012d}"


async def _bare_server(port: int, dsn: str, channel: str, width: int) -> None:
    import asyncpg
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    listeners: set[ServerConnection] = set()

    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        event_id = int(payload) - 10 ** (width - 1)
        broadcast(listeners, _event_like(_key(event_id // EVENTS_PER_SUBMISSION), event_id))

    async def handler(ws: ServerConnection) -> None:
        listeners.add(ws)
        try:
            await ws.wait_closed()
        finally:
            listeners.discard(ws)

    conn = await asyncpg.connect(dsn)
    await conn.add_listener(channel, on_notify)  # LISTEN before the port opens
    async with serve(handler, HOST, port, ping_interval=None, max_queue=16, compression=None):
        await asyncio.Future()


async def _bare_events(url: str, channel: str, events: int, width: int) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(url)
    sent = {}
    try:
        for i in range(events):
            for j in range(EVENTS_PER_SUBMISSION):
                # Ids of econsult's width: 10^(width-1) + n.
                payload = str(10 ** (width - 1) + i * EVENTS_PER_SUBMISSION + j)
                await conn.execute("SELECT pg_notify($1, $2)", channel, payload)
            sent[_key(i)] = time.perf_counter()
            await asyncio.sleep(PAUSE_BETWEEN_EVENTS)
    finally:
        await conn.close()
    return sent


# -- the driver -----------------------------------------------------------------------

def run(n: int = 200, events: int = 25, admin_url: str = ADMIN_URL) -> list[Figure]:
    if not answers():
        return []
    raise_nofile()
    ctx = get_context("spawn")
    with (ProcessPoolExecutor(1, mp_context=ctx) as pool, Manager() as manager,
          throwaway_database(admin_url) as (url, env)):
        # PYTHONPATH: the servers import this checkout's econsult, whatever the venv has.
        env = {**env, "ECONSULT_MFA_REQUIRED": "none",
               "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT),
                                                           env.get("PYTHONPATH"))))}
        procs: list[subprocess.Popen[bytes]] = []
        try:
            proc_a, a, _ = _serve(env)
            procs.append(proc_a)
            proc_b, b, port_b = _serve(env)
            procs.append(proc_b)
            headers, hears = asyncio.run(_audience(a, b))
            real = _measure(pool, manager, f"ws://{HOST}:{port_b}/ws", b, headers, n,
                            lambda: asyncio.run(_econsult_events(a, events)))
        finally:
            for proc in procs:
                stop_process(proc)
        width = max(1, asyncio.run(_payload_size(url)))
        port = free_port()
        bare_proc = start([sys.executable, "-m", "bench.pg_events", "bare", "--port",
                           str(port), "--dsn", url, "--channel", RAW_CHANNEL,
                           "--width", str(width)], env=env)
        try:
            _wait_port(port)
            bare = _measure(pool, manager, f"ws://{HOST}:{port}/", f"http://{HOST}:{port}",
                            [{}], n, lambda: asyncio.run(
                                _bare_events(url, RAW_CHANNEL, events, width)))
        finally:
            stop_process(bare_proc)
    ok = (real["p99_ms"] <= 2 * bare["p99_ms"] and not real["incomplete_consults"]
          and not bare["incomplete_consults"])
    detail = {"econsult": real, "bare": bare, "clients_as": hears, "payload_chars": width}
    return [
        Figure("pg_events", f"A -> B over NOTIFY, {n} clients: p50", real["p50_ms"], "ms",
               raw=bare["p50_ms"], target="(report)", detail=detail),
        Figure("pg_events", f"A -> B over NOTIFY, {n} clients: p99", real["p99_ms"], "ms",
               raw=bare["p99_ms"], target="<= 2x bare NOTIFY + websockets", ok=ok),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=["bench", "bare"], default="bench")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="50 clients, 5 consults")
    parser.add_argument("--url", default=ADMIN_URL)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--channel", default=RAW_CHANNEL)
    parser.add_argument("--width", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "bare":
        import uvloop

        raise_nofile()
        uvloop.run(_bare_server(args.port, args.dsn, args.channel, args.width))
        return
    if not answers():
        print("PostgreSQL does not answer on 127.0.0.1:5432: nothing measured")
        return
    n = args.clients or (50 if args.quick else 200)
    events = args.events or (5 if args.quick else 25)
    for f in run(n, events, args.url):
        print(f.as_dict())


if __name__ == "__main__":
    main()
