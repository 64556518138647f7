"""ImageWorkers: the pool that keeps image work off the event loop."""

from __future__ import annotations

import asyncio
import os
import threading

import pytest

from econsult.images import ImageRejected, ImageWorkers
from econsult.images import pipeline as pipeline_module
from econsult.images.workers import PoolKind
from tests.images.image_factories import asymmetric_pattern, encode


@pytest.mark.parametrize("kind", ["thread", "process"])
async def test_process_and_check_in_the_pool(kind: PoolKind) -> None:
    data = encode(asymmetric_pattern(), "PNG")
    async with ImageWorkers(kind=kind, size=2) as workers:
        results = await asyncio.gather(*(workers.process(data) for _ in range(4)))
        assert {(r.width, r.height) for r in results} == {(60, 40)}
        checked = await workers.check(data)
        assert (checked.width, checked.height) == (60, 40)
        with pytest.raises(ImageRejected) as info:
            await workers.process(b"GIF89a not really")
        assert info.value.code == "unsupported_format"


async def test_work_runs_off_the_event_loop_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    loop_thread = threading.get_ident()
    seen: list[int] = []
    real = pipeline_module.check_image

    def spy(data: bytes, *, max_pixels: int) -> pipeline_module.CheckResult:
        seen.append(threading.get_ident())
        return real(data, max_pixels=max_pixels)

    monkeypatch.setattr("econsult.images.workers.check_image", spy)
    workers = ImageWorkers(kind="thread", size=1)
    try:
        await workers.check(encode(asymmetric_pattern(), "PNG"))
    finally:
        workers.shutdown()
    assert seen and seen[0] != loop_thread


async def test_max_pixels_is_passed_through() -> None:
    workers = ImageWorkers(size=1, max_pixels=100)
    try:
        with pytest.raises(ImageRejected) as info:
            await workers.process(encode(asymmetric_pattern(), "PNG"))
        assert info.value.code == "too_many_pixels"
    finally:
        workers.shutdown()


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ValueError):
        ImageWorkers(kind="fibers")  # type: ignore[arg-type]  # the wrong kind on purpose
    with pytest.raises(ValueError):
        ImageWorkers(max_pixels=0)


def _crash(data: bytes) -> None:
    os._exit(3)  # what a segfaulting decoder looks like from the parent


def _echo_size(data: bytes) -> int:
    return len(data)


async def test_a_crashing_worker_is_refused_and_the_pool_recovers() -> None:
    workers = ImageWorkers(kind="process", size=1)
    try:
        with pytest.raises(ImageRejected) as info:
            await workers._run(_crash, b"hostile")
        assert info.value.code == "corrupt"
        assert await workers._run(_echo_size, b"12345") == 5
        result = await workers.process(encode(asymmetric_pattern(), "PNG"))
        assert result.width == 60
    finally:
        workers.shutdown()


def test_default_is_a_process_pool() -> None:
    workers = ImageWorkers(size=1)
    try:
        assert workers.kind == "process"
    finally:
        workers.shutdown()
