"""Run image work off the event loop, in a pool of processes (default) or threads.

Default: processes, chosen on bench/images_pool.py (2-core machine, 2 workers, 12 x
12 MP HEIC; a 5 ms asyncio ping measures how late the loop wakes; four runs):
  ping p99  threads 42 / 29 / 27 / 18 ms   processes 15 / 23 / 17 / 5 ms
  photos/s  threads about equal to processes (3.1 vs 3.3 on the quiet run)
Pillow and libheif release the GIL in decode, colour transform, resize and encode, but
the Python and numpy glue between them still competes with the loop for the GIL;
processes take that contention away for ~10 ms of pickling per 12 MP photo. They also
contain a decoder crash on a hostile file: the pool is rebuilt and the upload refused,
where a thread pool would lose the whole server process.
"""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Literal, TypeVar

from .decode import DEFAULT_MAX_PIXELS, check_max_pixels
from .formats import ACCEPTED_MESSAGE, ImageRejected
from .pipeline import CheckResult, ProcessedImage, check_image, process_image

PoolKind = Literal["thread", "process"]
_T = TypeVar("_T")
_A = TypeVar("_A")


def default_size() -> int:
    # More workers than cores only queues CPU work and multiplies peak memory
    # (a 12 MP photo needs ~100 MB while it is processed).
    return max(1, min(4, os.cpu_count() or 1))


# Pillow allocates image memory in 16 MB blocks and by default hands every block back
# when an image is freed; a worker then page-faults ~100 MB of fresh memory into being
# for each 12 MP photo (+25 ms per photo: decode 79 -> 69 ms, orient/sRGB 40 -> 25 ms,
# measured in a spawned worker). Keeping up to 10 blocks (160 MB per worker, only once
# a large photo has been seen) makes the next photo reuse them.
_BLOCKS_KEPT = 10


def _init_worker() -> None:
    from PIL import _imaging  # Pillow's C core: how many memory blocks a worker keeps

    _imaging.set_blocks_max(_BLOCKS_KEPT)


class ImageWorkers:
    """A bounded pool for process_image / check_image, created in the app's lifespan."""

    def __init__(
        self,
        *,
        kind: PoolKind = "process",
        size: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> None:
        check_max_pixels(max_pixels)
        self.kind = kind
        self.size = size or default_size()
        self.max_pixels = max_pixels
        if kind not in ("thread", "process"):
            raise ValueError(f"kind must be 'thread' or 'process', got {kind!r}")
        self._executor = self._new_executor()

    async def process(self, data: bytes) -> ProcessedImage:
        """process_image in the pool; raises ImageRejected like the function itself."""
        return await self._run(functools.partial(process_image, max_pixels=self.max_pixels), data)

    async def check(self, data: bytes) -> CheckResult:
        return await self._run(functools.partial(check_image, max_pixels=self.max_pixels), data)

    async def run(self, func: Callable[[_A], _T], arg: _A) -> _T:
        """Other CPU-heavy work in the same pool (a DICOM export, a PDF). `func` must be
        a module-level function and `arg` picklable: the default pool is processes."""
        return await self._run(func, arg)

    def shutdown(self, *, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)

    async def __aenter__(self) -> ImageWorkers:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await asyncio.to_thread(self.shutdown)

    def _new_executor(self) -> Executor:
        if self.kind == "thread":
            return ThreadPoolExecutor(self.size, thread_name_prefix="images")
        # spawn, not fork: forking a process that runs an event loop and other threads
        # can copy held locks into the child.
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.size, mp_context=context, initializer=_init_worker)

    async def _run(self, func: Callable[[_A], _T], data: _A) -> _T:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            executor = self._executor
            try:
                return await loop.run_in_executor(executor, func, data)
            except BrokenProcessPool:
                # A worker died (a decoder crash). Every job in flight fails with it and
                # we cannot tell whose file did it: rebuild once and retry; a file that
                # kills the pool twice is refused.
                if self._executor is executor:
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._new_executor()
                if attempt == 2:
                    raise ImageRejected(
                        "corrupt",
                        f"The photo file is damaged and cannot be read. {ACCEPTED_MESSAGE}",
                    ) from None
        raise AssertionError("unreachable")
