"""Consult submission with three 12 MP phone photos through a real `econsult serve`.

Two phases against one server: 1 GP submitting one consult after another, then 20 GPs
at once (20 sessions over the three demo GP accounts), each for a bounded time; a GP
starts no new submission after it, and in-flight ones are awaited. While the 20 upload,
another process sends GET /api/v1/me every 50 ms on a keep-alive connection: its p99
is the "JSON request while photos upload" figure, against the same probe on the idle
server.

Raw limit: what Pillow allows on this machine's cores, 2 / (bare Pillow CPU seconds for
the three photos) submissions per second; for the single GP, the shortest time those
three photos could take on the cores (max(longest photo, sum / cores)).

    .venv/bin/python -m bench.submit [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from bench.common import (
    CORES,
    GPS,
    Figure,
    Server,
    client_for,
    ms_summary,
    phone_photos,
    probe,
    submit_consult,
)
from bench.images import bare_pillow, register_heif

PHOTOS = ("pug.heic", "xiaomi.heic", "generated-12mp.jpg")
PROBE_PATH = "/api/v1/me"


def pillow_cpu_seconds(photos: list[tuple[str, bytes]], repeat: int = 3) -> dict[str, float]:
    """CPU seconds (process time, so helper threads count) of bare Pillow per photo."""
    register_heif()
    out = {}
    for name, data in photos:
        bare_pillow(data)
        runs = []
        for _ in range(repeat):
            start = time.process_time()
            bare_pillow(data)
            runs.append(time.process_time() - start)
        out[name] = sorted(runs)[len(runs) // 2]
    return out


async def _gps(base: str, count: int, seconds: float, photos: list[tuple[str, bytes]],
               on_ready: Callable[[], object] = lambda: None) -> dict[str, Any]:
    # Log in first: a burst of logins (password hashing) is not what is measured here.
    clients = [await client_for(base, GPS[i % len(GPS)]) for i in range(count)]
    on_ready()
    await asyncio.sleep(0.2)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    stop_at = time.perf_counter() + seconds

    async def gp(client: Any) -> None:
        while True:
            start = time.perf_counter()
            r = await submit_consult(client, photos)
            if r.status_code == 201:
                latencies.append(time.perf_counter() - start)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            if time.perf_counter() >= stop_at:
                break

    start = time.perf_counter()
    try:
        await asyncio.gather(*(gp(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    elapsed = time.perf_counter() - start
    return {"gps": count, "created": len(latencies), "seconds": elapsed,
            "per_s": len(latencies) / elapsed, "statuses": statuses, **ms_summary(latencies)}


def _probe_headers(server: Server) -> dict[str, str]:
    async def one() -> dict[str, str]:
        client = await client_for(server.base, "staff@demo.econsult.org")
        try:
            cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
            return {"Cookie": cookie}
        finally:
            await client.aclose()

    return asyncio.run(one())


def run(seconds: float = 20.0, single_seconds: float = 15.0) -> list[Figure]:
    all_photos = phone_photos()
    photos = [(name, all_photos[name]) for name in PHOTOS]
    cpu = pillow_cpu_seconds(photos)
    limit_per_s = CORES / sum(cpu.values())
    ideal_one = max(max(cpu.values()), sum(cpu.values()) / CORES)
    pool = ProcessPoolExecutor(1, mp_context=get_context("spawn"))
    try:
        with Server() as server:
            headers = _probe_headers(server)
            asyncio.run(_gps(server.base, 1, 0.0, photos))  # spawns the image workers
            idle = pool.submit(probe, server.port, PROBE_PATH, headers, 5.0).result()
            one = asyncio.run(_gps(server.base, 1, single_seconds, photos))
            busy_future: list[Future[list[float]]] = []
            many = asyncio.run(_gps(server.base, 20, seconds, photos, lambda: busy_future.append(
                pool.submit(probe, server.port, PROBE_PATH, headers, seconds))))
            busy = busy_future[0].result()
    finally:
        pool.shutdown()
    idle_s, busy_s = ms_summary(idle), ms_summary(busy)
    raw = {"pillow_cpu_ms": {k: v * 1000 for k, v in cpu.items()}, "cores": CORES,
           "limit_per_s": limit_per_s}
    return [
        Figure("submit", "1 GP, 3 photos: latency p50", one["p50_ms"], "ms",
               raw=ideal_one * 1000, target="(reference: 3 photos on all cores)",
               detail={**one, **raw}),
        Figure("submit", "20 GPs, 3 photos: throughput", many["per_s"], "consults/s",
               raw=limit_per_s, target=">= 0.8x Pillow on all cores",
               ok=many["per_s"] >= 0.8 * limit_per_s and set(many["statuses"]) == {201},
               detail={**many, **raw}),
        Figure("submit", "20 GPs uploading: GET /me p99", busy_s["p99_ms"], "ms",
               raw=idle_s["p99_ms"], target="< 50 ms", ok=busy_s["p99_ms"] < 50,
               detail={"busy": busy_s, "idle": idle_s}),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--single-seconds", type=float, default=15.0)
    args = parser.parse_args()
    for f in run(args.seconds, args.single_seconds):
        print(f.as_dict())


if __name__ == "__main__":
    main()
