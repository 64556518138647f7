"""Live queue: 500 WebSocket clients on /ws of a real `econsult serve`, vs a bare
`websockets` broadcast server on the same machine.

The clients (the `websockets` package, one process of their own) log in as the
dermatologists who hear the consult (the assignee, or both when it is pooled) and as
staff (who hear every event). A GP then submits `events` consults one after another
(no photos): the delay of one is the time from its 201 (the commit; events are
published before the response is sent) to the moment the last of the 500 clients has
received its events. The bare server holds the same 500 connections and, on a control
message, acknowledges it and then sends two events of the same size to all of them
(`websockets.broadcast`; a submission publishes two): delay = last receipt - receipt of
the acknowledgement. Server memory per connection: the server process's RSS after the
500 connected minus before, / 500.

    .venv/bin/python -m bench.queue_ws [--clients 500] [--events 25]
    .venv/bin/python -m bench.queue_ws bare --port P     (the bare server alone)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import Manager, get_context
from typing import Any

from bench.common import (
    HOST,
    Figure,
    Server,
    client_for,
    free_port,
    ms_summary,
    raise_nofile,
    rss_kib,
    start,
    stop_process,
    submit_consult,
)

CONNECT_AT_ONCE = 25
PAUSE_BETWEEN_EVENTS = 0.2
# A submission publishes "submitted" then "assigned" (or "pooled"): the bare server sends
# as many messages per trigger, so both deliver the same traffic.
EVENTS_PER_SUBMISSION = 2


# -- the clients (their own process) ------------------------------------------------

async def _clients(url: str, headers: list[dict[str, str]], origin: str, n: int,
                   control: Any, events_each: int = 0) -> dict[str, Any]:
    """Connect n clients, report 'connected', record per consult and client the time of
    its last receipt (`events_each` > 0: of the receipt that completes that many), until
    control says 'stop'. Also the clients of bench/pg_events.py."""
    from websockets.asyncio.client import connect
    from websockets.typing import Origin

    raise_nofile()
    last: list[dict[str, float]] = [{} for _ in range(n)]
    received = [0]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    conns: list[Any] = []

    async def open_one(i: int) -> None:
        async with gate:
            conns.append(await connect(url, origin=Origin(origin), proxy=None,
                                       additional_headers=headers[i % len(headers)],
                                       ping_interval=None, open_timeout=60))

    async def listen(i: int, ws: Any) -> None:
        mine = last[i]
        counts: dict[str, int] = {}
        async for message in ws:
            now = time.perf_counter()
            key = json.loads(message).get("consult_id")
            if key:
                received[0] += 1
                counts[key] = counts.get(key, 0) + 1
                if not events_each or counts[key] == events_each:
                    mine[key] = now

    await asyncio.gather(*(open_one(i) for i in range(n)))
    deflate = sum(1 for c in conns if c.response.headers.get("Sec-WebSocket-Extensions"))
    listeners = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(conns)]
    control.put({"connected": len(conns), "deflate": deflate})
    await asyncio.to_thread(control_wait, control)
    for ws in conns:
        await ws.close()
    await asyncio.gather(*listeners, return_exceptions=True)
    merged: dict[str, list[float]] = {}
    for mine in last:
        for key, at in mine.items():
            merged.setdefault(key, []).append(at)
    return {"connected": len(conns), "deflate": deflate, "received": received[0],
            "last": {k: (len(v), max(v)) for k, v in merged.items()}}


def control_wait(control: Any) -> None:
    while control.get() != "stop":
        pass


def clients(url: str, headers: list[dict[str, str]], origin: str, n: int,
            control: Any, events_each: int = 0) -> dict[str, Any]:
    import uvloop

    return uvloop.run(_clients(url, headers, origin, n, control, events_each))


# -- the bare broadcast server -------------------------------------------------------

async def _bare_server(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    listeners: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/control":
            async for message in ws:
                # Acknowledge, then send: the order of econsult's 201 and its events.
                await ws.send("ok")
                for _ in range(EVENTS_PER_SUBMISSION):
                    broadcast(listeners, message)
            return
        listeners.add(ws)
        try:
            await ws.wait_closed()
        finally:
            listeners.discard(ws)

    # No permessage-deflate, as `econsult serve` runs (the same protocol work).
    async with serve(handler, HOST, port, ping_interval=None, max_queue=16, compression=None):
        await asyncio.Future()


def _event_like(consult_id: str, n: int) -> str:
    """An event the size and shape of the server's (ids, type, queue fields)."""
    return json.dumps({"v": 1, "id": n, "type": "assigned", "consult_id": consult_id,
                       "at": "2026-03-02T17:00:00.000000+00:00",
                       "data": {"state": "assigned", "urgency": "routine",
                                "specialty": "dermatology", "assigned_to": 4,
                                "due_at": "2026-03-09T17:00:00+00:00"}}, separators=(",", ":"))


# -- the driver -----------------------------------------------------------------------

def _start_clients(pool: ProcessPoolExecutor, manager: Any, url: str,
                   headers: list[dict[str, str]], origin: str, n: int
                   ) -> tuple[Future[dict[str, Any]], Any, dict[str, Any]]:
    control = manager.Queue()
    future = pool.submit(clients, url, headers, origin, n, control)
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
    return future, control, ready


def _delays(sent: dict[str, float], got: dict[str, Any], n: int) -> tuple[list[float], int]:
    delays, incomplete = [], 0
    for key, at in sent.items():
        count, last = got["last"].get(key, (0, at))
        if count < n:
            incomplete += 1
        delays.append(last - at)
    return delays, incomplete


async def _econsult_events(server: Server, events: int) -> dict[str, float]:
    gp = await client_for(server.base, "gp@demo.econsult.org")
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


async def _audience(server: Server) -> tuple[list[dict[str, str]], str]:
    """Cookies of staff and of the dermatologists a new consult reaches, found by
    submitting one."""
    gp = await client_for(server.base, "gp@demo.econsult.org")
    try:
        assigned_to = (await submit_consult(gp)).json()["assigned_to"]
    finally:
        await gp.aclose()
    cookies, hears = [], []
    for email in ("derm1@demo.econsult.org", "derm2@demo.econsult.org",
                  "staff@demo.econsult.org"):
        for _ in range(4):  # a few sessions per account
            c = await client_for(server.base, email)
            me = (await c.get("/api/v1/me")).json()["user"]
            if me["role"] == "staff" or assigned_to in (None, me["id"]):
                cookies.append({"Cookie": "; ".join(f"{k}={v}" for k, v in c.cookies.items())})
                hears.append(email)
            await c.aclose()
    return cookies, ", ".join(sorted(set(hears)))


async def _bare_events(port: int, events: int) -> dict[str, float]:
    from websockets.asyncio.client import connect

    sent = {}
    async with connect(f"ws://{HOST}:{port}/control", proxy=None) as control:
        for i in range(events):
            key = f"00000000-0000-4000-8000-{i:012d}"
            await control.send(_event_like(key, i))
            await control.recv()
            sent[key] = time.perf_counter()
            await asyncio.sleep(PAUSE_BETWEEN_EVENTS)
    return sent


def _measure(pool: ProcessPoolExecutor, manager: Any, pid: int, url: str, origin: str,
             headers: list[dict[str, str]], n: int, fire: Any) -> dict[str, Any]:
    time.sleep(1.0)
    before = rss_kib(pid)
    future, control, ready = _start_clients(pool, manager, url, headers, origin, n)
    time.sleep(1.0)
    after = rss_kib(pid)
    try:
        sent = fire()
        time.sleep(1.0)
    finally:
        control.put("stop")
    got = future.result(timeout=120)
    delays, incomplete = _delays(sent, got, n)
    return {**ms_summary(delays), "connected": ready["connected"], "deflate": ready["deflate"],
            "messages_per_client_per_event": got["received"] / max(1, n * len(sent)),
            "incomplete_events": incomplete, "rss_before_kib": before, "rss_after_kib": after,
            "kib_per_connection": (after - before) / n}


def run(n: int = 500, events: int = 25) -> list[Figure]:
    raise_nofile()
    ctx = get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as pool, Manager() as manager:
        with Server() as server:
            headers, hears = asyncio.run(_audience(server))
            ws_url = f"ws://{HOST}:{server.port}/ws"
            real = _measure(pool, manager, server.pid, ws_url, server.base, headers, n,
                            lambda: asyncio.run(_econsult_events(server, events)))
        port = free_port()
        bare_proc = start([sys.executable, "-m", "bench.queue_ws", "bare", "--port", str(port)])
        try:
            _wait_port(port)
            bare = _measure(pool, manager, bare_proc.pid, f"ws://{HOST}:{port}/",
                            f"http://{HOST}:{port}", [{}], n,
                            lambda: asyncio.run(_bare_events(port, events)))
        finally:
            stop_process(bare_proc)
    ok_delivery = real["p99_ms"] <= 2 * bare["p99_ms"] and not real["incomplete_events"]
    return [
        Figure("queue_ws", f"{n} clients: delivery p50", real["p50_ms"], "ms",
               raw=bare["p50_ms"], detail={"econsult": real, "bare": bare, "clients_as": hears}),
        Figure("queue_ws", f"{n} clients: delivery p99", real["p99_ms"], "ms",
               raw=bare["p99_ms"], target="<= 2x bare websockets", ok=ok_delivery),
        Figure("queue_ws", "server memory per connection", real["kib_per_connection"], "KiB",
               raw=bare["kib_per_connection"], target="< 80 KiB",
               ok=real["kib_per_connection"] < 80),
    ]


def _wait_port(port: int, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {HOST}:{port}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=["bench", "bare"], default="bench")
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--events", type=int, default=25)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.mode == "bare":
        import uvloop

        raise_nofile()
        uvloop.run(_bare_server(args.port))
        return
    for f in run(args.clients, args.events):
        print(f.as_dict())


if __name__ == "__main__":
    main()
