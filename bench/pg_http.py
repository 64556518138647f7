"""Submissions without photos from many HTTP clients against `econsult serve --workers 2`
on PostgreSQL, vs raw asyncpg writing the same rows from as many connections.

A throwaway PostgreSQL database and data directory are seeded (`econsult demo --no-serve
--consults 0`, bench/pg_write.py) and `econsult serve --workers 2` runs on them. C
sessions (default 32, over the three demo GP accounts, logged in first) each submit one
consult after another (POST /api/v1/consults, the form of bench/common.py, no photos)
for S seconds, after a one-second warm-up; a session starts no new submission after S,
and in-flight ones are awaited. Figures: completed submissions/s, latency p50/p99, and
every non-201 status (there should be none; they are counted and fail the run's `ok`).

The load generator is its own process (spawned), on raw keep-alive HTTP/1.1 streams
with the multipart body built once (as httpx would send it): an httpx client per
session would spend more CPU per request than the server's handler does, on the same
two cores. Those 2 cores are shared, during the econsult phase, between the two
uvicorn workers, the PostgreSQL backends serving them, and the load generator (the
uvicorn supervisor idles); during the raw phase, between the two raw processes and
their backends. Whatever else runs on the machine takes its share too: the load
average is in the detail.

Raw limit: C asyncpg connections, split over 2 processes (C/2 each, uvloop), each in a
closed loop writing one submission's rows (the consult, its two events, its audit
entry and the audit head: `pg_write.raw_writer`, copied from a consult the server
made) in one transaction, for the same S seconds. Two processes because the server has
two: one Python process driving all C connections could be the limit itself, which
would flatter the ratio; the same number of connections because contention on the
audit head row (every submission updates it) grows with the writers waiting on it.
The raw rows are pg_write's and no more: no routing reads, search tokens or stamp of
the assignee (`UPDATE users SET last_assigned_at`, a second row every submission to
that specialist locks until its commit); what econsult does beyond them is part of
what the ratio shows.

    .venv/bin/python -m bench.pg_http [--seconds 10] [--clients 32] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from bench.common import FORM as FORM_FIELDS
from bench.common import (
    GPS,
    HOST,
    ROOT,
    Figure,
    free_port,
    login,
    ms_summary,
    start,
    stop_process,
    wait_http,
)
from bench.pg_write import ADMIN_URL, answers, raw_writer, throwaway_database

PATH = "/api/v1/consults"
WARMUP_SECONDS = 1.0
RAW_PROCESSES = 2


def multipart() -> tuple[bytes, str]:
    """The body and Content-Type of bench.common.submit_consult's request (no photos)."""
    import httpx

    request = httpx.Request("POST", f"http://{HOST}{PATH}", data=FORM_FIELDS,
                            files=[("none", ("", b"", "application/octet-stream"))])
    return request.read(), request.headers["content-type"]


class RawPost:
    """A keep-alive HTTP/1.1 client POSTing one prebuilt request again and again."""

    def __init__(self, port: int, request: bytes) -> None:
        self.port = port
        self.request = request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
            sock = self.writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length, close = None, False
        for line in head.split(b"\r\n"):
            low = line.lower()
            if low.startswith(b"content-length:"):
                length = int(line[15:])
            elif low.startswith(b"connection:") and b"close" in low:
                close = True
        if length is None:
            raise RuntimeError(f"answer without Content-Length: {head[:300]!r}")
        body = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _request(port: int, cookie: str, csrf: str, body: bytes, content_type: str) -> bytes:
    origin = f"http://{HOST}:{port}"
    return (f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nOrigin: {origin}\r\n"
            f"Cookie: {cookie}\r\nX-CSRF-Token: {csrf}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def _load(port: int, sessions: list[tuple[str, str]], seconds: float,
                warmup: float) -> dict[str, Any]:
    body, content_type = multipart()
    clients = [RawPost(port, _request(port, cookie, csrf, body, content_type))
               for cookie, csrf in sessions]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    example: list[str] = []

    async def one(client: RawPost, stop_at: float, record: bool) -> None:
        while True:
            begin = time.perf_counter()
            status, answer = await client.post()
            if record:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    latencies.append(time.perf_counter() - begin)
                    if not example:
                        example.append(str(json.loads(answer)["id"]))
                elif len(example) < 4:
                    example.append(f"{status}: {answer[:200]!r}")
            if time.perf_counter() >= stop_at:
                break

    try:
        stop_at = time.perf_counter() + warmup
        await asyncio.gather(*(one(c, stop_at, False) for c in clients))
        began = time.perf_counter()
        await asyncio.gather(*(one(c, began + seconds, True) for c in clients))
        elapsed = time.perf_counter() - began
    finally:
        for c in clients:
            await c.close()
    return {"clients": len(clients), "created": len(latencies), "seconds": elapsed,
            "per_s": len(latencies) / elapsed, "statuses": statuses,
            "template": example[0] if example else None, "examples": example[1:],
            **ms_summary(latencies)}


def load(port: int, sessions: list[tuple[str, str]], seconds: float,
         warmup: float = WARMUP_SECONDS) -> dict[str, Any]:
    """Closed-loop submissions from one keep-alive connection per session. Run it in
    its own process."""
    import uvloop

    return uvloop.run(_load(port, sessions, seconds, warmup))


async def _raw(url: str, template: str, conns: int, seconds: float,
               start_at: float) -> dict[str, Any]:
    import asyncpg

    connections = [await asyncpg.connect(url) for _ in range(conns)]
    latencies: list[float] = []
    try:
        writers = [await raw_writer(c, template) for c in connections]
        await asyncio.sleep(max(0.0, start_at - time.time()))
        late = time.time() - start_at
        stop_at = time.perf_counter() + seconds

        async def one(write: Any) -> None:
            while time.perf_counter() < stop_at:
                begin = time.perf_counter()
                await write()
                latencies.append(time.perf_counter() - begin)

        began = time.perf_counter()
        await asyncio.gather(*(one(w) for w in writers))
        elapsed = time.perf_counter() - began
    finally:
        for c in connections:
            await c.close()
    return {"latencies": latencies, "seconds": elapsed, "late_s": late}


def raw(url: str, template: str, conns: int, seconds: float, start_at: float
        ) -> dict[str, Any]:
    """`conns` connections writing submissions' rows in a closed loop from `start_at`
    (wall clock) for `seconds`. Run it in its own process."""
    import uvloop

    return uvloop.run(_raw(url, template, conns, seconds, start_at))


def _sessions(base: str, clients: int) -> list[tuple[str, str]]:
    async def all_() -> list[tuple[str, str]]:
        return [await login(base, GPS[i % len(GPS)]) for i in range(clients)]

    return asyncio.run(all_())


def run(clients: int = 32, seconds: float = 10.0, admin_url: str = ADMIN_URL
        ) -> list[Figure]:
    if not answers():
        return []
    ctx = get_context("spawn")
    load_before = os.getloadavg()
    with throwaway_database(admin_url) as (url, env):
        port = free_port()
        # PYTHONPATH: the workers import this checkout's econsult, whatever the venv has.
        server_env = {**env, "ECONSULT_MFA_REQUIRED": "none",
                      "PYTHONPATH": os.pathsep.join(filter(None, (
                          str(ROOT), env.get("PYTHONPATH"))))}
        proc = start([sys.executable, "-m", "econsult", "serve", "--workers", "2", "--host",
                      HOST, "--port", str(port), "--log-level", "warning"], env=server_env)
        try:
            wait_http(f"http://{HOST}:{port}/healthz", proc)
            sessions = _sessions(f"http://{HOST}:{port}", clients)
            with ProcessPoolExecutor(1, mp_context=ctx) as pool:
                real = pool.submit(load, port, sessions, seconds).result(
                    timeout=seconds + 300)
        finally:
            stop_process(proc)
        load_mid = os.getloadavg()
        if real["template"] is None:
            raise RuntimeError(f"no submission succeeded: {real['statuses']} "
                               f"{real['examples']}")
        share = [clients // RAW_PROCESSES + (i < clients % RAW_PROCESSES)
                 for i in range(RAW_PROCESSES)]
        start_at = time.time() + 5.0  # after the spawned processes have imported
        with ProcessPoolExecutor(RAW_PROCESSES, mp_context=ctx) as pool:
            futures = [pool.submit(raw, url, real["template"], n, seconds, start_at)
                       for n in share if n]
            parts = [f.result(timeout=seconds + 300) for f in futures]
    raw_latencies = [x for p in parts for x in p["latencies"]]
    raw_per_s = len(raw_latencies) / max(p["seconds"] for p in parts)
    raw_detail = {"connections": clients, "processes": len(parts), "per_s": raw_per_s,
                  "late_s": [p["late_s"] for p in parts], **ms_summary(raw_latencies)}
    bad = {k: v for k, v in real["statuses"].items() if k != 201}
    detail = {"econsult": {k: v for k, v in real.items() if k != "template"}, "raw": raw_detail,
              "non_201": bad, "loadavg": {"start": load_before, "after_econsult": load_mid,
                                          "end": os.getloadavg()}}
    return [
        Figure("pg_http", f"{clients} GPs over HTTP, 2 workers: submissions", real["per_s"],
               "consults/s", raw=raw_per_s, target="(report)", ok=False if bad else None,
               detail=detail),
        Figure("pg_http", f"{clients} GPs over HTTP, 2 workers: latency p50",
               real["p50_ms"], "ms", raw=raw_detail["p50_ms"], target="(report)"),
        Figure("pg_http", f"{clients} GPs over HTTP, 2 workers: latency p99",
               real["p99_ms"], "ms", raw=raw_detail["p99_ms"], target="(report)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="3 s instead of 10")
    parser.add_argument("--url", default=ADMIN_URL)
    args = parser.parse_args()
    if not answers():
        print("PostgreSQL does not answer on 127.0.0.1:5432: nothing measured")
        return
    seconds = args.seconds if args.seconds is not None else 3.0 if args.quick else 10.0
    for f in run(args.clients, seconds, args.url):
        print(f.as_dict())


if __name__ == "__main__":
    main()
