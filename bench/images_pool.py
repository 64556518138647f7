"""Threads or processes for image work: which keeps the event loop responsive?

Runs an asyncio "ping" task (sleep 5 ms, record how late it wakes) while ImageWorkers
processes a batch of phone photos, once with a thread pool and once with a process pool,
and prints ping lateness and throughput as ratios to the raw limits measured in the same
run: the idle loop's lateness, and the photos/s of one core processing sequentially
times the number of workers.

    .venv/bin/python bench/images_pool.py [--photos 16] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from econsult.images.pipeline import process_image
from econsult.images.workers import ImageWorkers, PoolKind, default_size

PHOTO = Path(__file__).resolve().parents[2] / "shared/testdata/images/phones/pug.heic"
PING_INTERVAL = 0.005


async def _ping(stop: asyncio.Event, lateness: list[float]) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(PING_INTERVAL)
        lateness.append(time.perf_counter() - start - PING_INTERVAL)


async def _run(kind: PoolKind | None, data: bytes, photos: int, size: int) -> dict[str, float]:
    stop, lateness = asyncio.Event(), list[float]()
    workers = ImageWorkers(kind=kind, size=size) if kind else None
    if workers:  # warm up: spawn processes, register plug-ins, before timing
        await asyncio.gather(*(workers.process(data) for _ in range(size)))
    pinger = asyncio.create_task(_ping(stop, lateness))
    start = time.perf_counter()
    if workers:
        await asyncio.gather(*(workers.process(data) for _ in range(photos)))
    else:
        await asyncio.sleep(1.0)
    elapsed = time.perf_counter() - start
    stop.set()
    await pinger
    if workers:
        workers.shutdown()
    lateness.sort()
    return {
        "p50_ms": statistics.median(lateness) * 1000,
        "p99_ms": lateness[int(len(lateness) * 0.99) - 1] * 1000,
        "max_ms": lateness[-1] * 1000,
        "photos_per_s": photos / elapsed if workers else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=16)
    parser.add_argument("--workers", type=int, default=default_size())
    parser.add_argument("--photo", type=Path, default=PHOTO)
    args = parser.parse_args()
    data = args.photo.read_bytes()

    process_image(data)  # warm-up
    runs = 3
    start = time.perf_counter()
    for _ in range(runs):
        process_image(data)
    one = (time.perf_counter() - start) / runs
    raw_rate = args.workers / one
    idle = asyncio.run(_run(None, data, 0, args.workers))
    print(f"photo: {args.photo.name}, {len(data)} bytes; sequential {one * 1000:.0f} ms/photo")
    print(f"workers: {args.workers}; raw limit {raw_rate:.2f} photos/s (workers / sequential)")
    print(f"idle loop ping lateness: p50 {idle['p50_ms']:.2f} ms, p99 {idle['p99_ms']:.2f} ms")
    kinds: tuple[PoolKind, ...] = ("thread", "process")
    for kind in kinds:
        r = asyncio.run(_run(kind, data, args.photos, args.workers))
        print(
            f"{kind:7}: ping p50 {r['p50_ms']:6.2f} ms p99 {r['p99_ms']:6.2f} ms "
            f"max {r['max_ms']:6.2f} ms (p99 x{r['p99_ms'] / max(idle['p99_ms'], 1e-3):.1f} "
            f"idle) | {r['photos_per_s']:.2f} photos/s "
            f"({r['photos_per_s'] / raw_rate:.0%} of raw limit)"
        )


if __name__ == "__main__":
    main()
