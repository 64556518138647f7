"""Image ingest of one 12 MP phone photo vs bare Pillow on the same photo.

Ingest is what a submission runs per photo: `image_intake.ingest` = `process_image`
in the (process) worker pool (sniff, pixel cap, decode, orient, keep the colour profile
(rebuilt from its colour tags), strip, re-encode JPEG q90, thumbnail, quality check),
then `seal_image` twice (original, thumbnail) and `FilesystemBlobStore.put` twice
(temp file, fsync, rename, directory fsync).
The raw limit is bare Pillow: decode + `ImageOps.exif_transpose` + JPEG q90 encode +
512 px thumbnail (JPEG q85), in-process, both JPEGs carrying the photo's ICC profile as
econsult's do. Both run one photo at a time, so one core is
busy at any moment; medians of `repeat` runs after a warm-up.

    .venv/bin/python -m bench.images [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from PIL import Image, ImageOps

from bench.common import Figure, phone_photos
from econsult.consults.deps import ConsultDeps
from econsult.consults.image_intake import Upload, ingest
from econsult.images.envelope import seal_image
from econsult.images.icc import profile_description
from econsult.images.pipeline import process_image
from econsult.images.store import FilesystemBlobStore
from econsult.images.workers import ImageWorkers
from econsult.security.keyring import Kek, Keyring, new_key

PHOTOS = ("pug.heic", "generated-12mp.jpg")


def register_heif() -> None:
    """Bare Pillow opens HEIC through pillow-heif's plug-in, as econsult does."""
    import pillow_heif

    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def bare_pillow(data: bytes) -> tuple[bytes, bytes]:
    """The raw limit: what Pillow alone does to keep the photo upright, in its own colour
    space (the ICC profile embedded in both JPEGs, as econsult does)."""
    with Image.open(io.BytesIO(data)) as src:
        icc = src.info.get("icc_profile")
        profile = {"icc_profile": icc} if icc else {}
        im = ImageOps.exif_transpose(src)
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        out = io.BytesIO()
        im.save(out, "JPEG", quality=90, **profile)
        thumb = im.copy()
        thumb.thumbnail((512, 512))
        small = io.BytesIO()
        thumb.save(small, "JPEG", quality=85, **profile)
        return out.getvalue(), small.getvalue()


def _profile_name(content: bytes) -> str:
    with Image.open(io.BytesIO(content)) as im:
        icc = im.info.get("icc_profile")
    return profile_description(icc) if icc else ""


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


async def _measure(data: bytes, repeat: int, root: Path) -> dict[str, Any]:
    """Medians of each step; the runs are interleaved (bare, in-process, ingest, ...)
    so a neighbour's load drifting in and out hits all of them alike."""
    keyring = Keyring(Kek.from_bytes(new_key()))
    workers = ImageWorkers(kind="process", size=1)
    blobs = FilesystemBlobStore(root)
    svc = cast(ConsultDeps, SimpleNamespace(workers=workers, keyring=keyring, blobs=blobs))
    times: dict[str, list[float]] = {k: [] for k in ("bare", "process", "ingest", "seal",
                                                     "put")}
    try:
        await ingest(svc, [Upload(data, "photo")])  # spawn the worker, warm its imports
        bare_pillow(data)
        processed = process_image(data)
        for _ in range(repeat):
            times["bare"].append(_timed(lambda: bare_pillow(data)))
            times["process"].append(_timed(lambda: process_image(data)))
            start = time.perf_counter()
            await ingest(svc, [Upload(data, "photo")])
            times["ingest"].append(time.perf_counter() - start)
            image_id = uuid.uuid4()
            start = time.perf_counter()
            sealed = (seal_image(keyring, image_id, "original", processed.content),
                      seal_image(keyring, image_id, "thumbnail", processed.thumbnail))
            times["seal"].append(time.perf_counter() - start)
            start = time.perf_counter()
            await blobs.put(f"{image_id}.original", sealed[0])
            await blobs.put(f"{image_id}.thumbnail", sealed[1])
            times["put"].append(time.perf_counter() - start)
        medians = {f"{k}_s": statistics.median(v) for k, v in times.items()}
        return {**medians, "stored_bytes": len(processed.content) + len(processed.thumbnail),
                "profile": _profile_name(processed.content)}
    finally:
        workers.shutdown()


def run(repeat: int = 5) -> list[Figure]:
    register_heif()
    photos = phone_photos()
    figures = []
    with tempfile.TemporaryDirectory(prefix="econsult-bench-blobs-") as root:
        for name in PHOTOS:
            data = photos[name]
            got = asyncio.run(_measure(data, repeat, Path(root)))
            bare, in_process = got["bare_s"], got["process_s"]
            ingest_s, seal_s, put_s = got["ingest_s"], got["seal_s"], got["put_s"]
            detail = {"photo": name, "bytes": len(data), "bare_ms": bare * 1000,
                      "stored_profile": got["profile"],
                      "process_image_in_process_ms": in_process * 1000,
                      "ingest_ms": ingest_s * 1000, "seal_x2_ms": seal_s * 1000,
                      "blob_put_x2_ms": put_s * 1000,
                      "pool_overhead_ms": (ingest_s - in_process - seal_s - put_s) * 1000,
                      "stored_bytes": got["stored_bytes"], "repeat": repeat}
            figures.append(Figure("images", f"ingest {name}", ingest_s * 1000, "ms",
                                  raw=bare * 1000, target="<= 1.25x bare Pillow",
                                  ok=ingest_s <= 1.25 * bare, detail=detail))
            figures.append(Figure("images", f"encryption share {name}", seal_s / ingest_s * 100,
                                  "%", target="< 1% of ingest", ok=seal_s / ingest_s < 0.01,
                                  detail={"seal_x2_ms": seal_s * 1000}))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    for f in run(parser.parse_args().repeat):
        print(f.as_dict())


if __name__ == "__main__":
    main()
