"""What the reliability tests do to a live server (GPs submitting consults with photos)
and how they check a data directory afterwards, with the server stopped: every consult
that got a 201 is there with its images decrypting, and no blob lacks a row."""

from __future__ import annotations

import asyncio
import io
import random
import sqlite3
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import httpx
from PIL import Image

from econsult.images.envelope import KINDS, Kind, open_image
from econsult.images.store import FilesystemBlobStore
from econsult.security.keyring import Keyring, load_keyring
from tests.factories import FORM
from tests.images.image_factories import skin_texture


@cache
def photo(seed: int) -> bytes:
    """A 1200x900 skin-like phone photo (JPEG)."""
    out = io.BytesIO()
    skin_texture(1200, 900, seed=seed).save(out, "JPEG", quality=88)
    return out.getvalue()


@dataclass(frozen=True)
class Accepted:
    """A consult whose POST answered 201, as the GP was told."""

    consult_id: str
    image_ids: tuple[str, ...]
    question: str
    gp: str
    at: float  # time.monotonic() when the 201 arrived


@dataclass
class Tally:
    accepted: list[Accepted] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=dict)

    def record(self, label: str, response: httpx.Response) -> None:
        self.statuses[response.status_code] += 1
        self.latencies.setdefault(label, []).append(response.elapsed.total_seconds())
        if response.status_code >= 500:
            self.server_errors.append(f"{label}: {response.status_code} {response.text[:300]}")


async def submit(client: httpx.AsyncClient, images: list[bytes], **overrides: str
                 ) -> httpx.Response:
    files = [("images", (f"photo{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images)]
    data = {**FORM, **overrides}
    if not files:
        files = [("none", ("", b"", "application/octet-stream"))]
    return await client.post("/consults", data=data, files=files)


async def gp_loop(client: httpx.AsyncClient, gp: str, tally: Tally, stop: asyncio.Event, *,
                  rng: random.Random, max_images: int = 2, limit: int = 10_000,
                  specialties: tuple[str, ...] = ("dermatology",)) -> None:
    """Submit consults until told to stop; a failed connection (the server is down) is
    counted and retried after a short pause. Bounded by `limit` submissions."""
    for _ in range(limit):
        if stop.is_set():
            return
        question = f"{FORM['question']} [rel {uuid.uuid4()}]"
        images = [photo(rng.randrange(4)) for _ in range(rng.randint(0, max_images))]
        try:
            response = await submit(client, images, question=question,
                                    specialty=rng.choice(specialties))
        except httpx.TransportError as exc:
            tally.transport_errors[type(exc).__name__] += 1
            await asyncio.sleep(0.05)
            continue
        tally.record("POST /consults", response)
        if response.status_code == 201:
            body = response.json()
            tally.accepted.append(Accepted(body["id"], tuple(i["id"] for i in body["images"]),
                                           question, gp, time.monotonic()))
            assert len(body["images"]) == len(images), body


# --- checks on a stopped server's data directory -----------------------------------


def keyring_of(data_dir: Path) -> Keyring:
    return load_keyring(None, data_dir / "keys.json")


def query(data_dir: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / "econsult.db", timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def check_intact(data_dir: Path, accepted: list[Accepted], keyring: Keyring) -> int:
    """Every accepted consult is present with exactly the images it was told of, and
    every image row in the database (original and thumbnail) decrypts to a picture of
    the size its row records. Returns how many images were opened."""
    consults = {str(r[0]) for r in query(data_dir, "SELECT id FROM consults")}
    missing = [a.consult_id for a in accepted if a.consult_id not in consults]
    assert not missing, f"{len(missing)} consults that got 201 are gone: {missing[:5]}"
    rows = query(data_dir, "SELECT id, consult_id, width, height, thumbnail_width, "
                           "thumbnail_height FROM consult_images")
    by_consult: dict[str, set[str]] = {}
    for row in rows:
        by_consult.setdefault(str(row[1]), set()).add(str(row[0]))
    for a in accepted:
        assert by_consult.get(a.consult_id, set()) == set(a.image_ids), a
    store = FilesystemBlobStore(data_dir / "blobs")
    for image_id, _, width, height, t_width, t_height in rows:
        for kind, size in zip(KINDS, ((width, height), (t_width, t_height)), strict=True):
            blob = store.path_for(f"{image_id}.{kind}").read_bytes()
            plain = open_image(keyring, uuid.UUID(str(image_id)), _kind(kind), blob)
            with Image.open(io.BytesIO(plain)) as picture:
                assert picture.size == size, (image_id, kind, picture.size, size)
    return len(rows)


def _kind(kind: str) -> Kind:
    assert kind in ("original", "thumbnail")
    return "original" if kind == "original" else "thumbnail"


def blob_census(data_dir: Path) -> tuple[set[str], set[str], list[str]]:
    """(blob keys on disk, keys the image rows name, temp files left on disk)."""
    root = data_dir / "blobs"
    on_disk, temps = set(), []
    for path in root.rglob("*") if root.is_dir() else []:
        if path.is_file():
            if path.name.startswith("."):
                temps.append(path.name)
            else:
                on_disk.add(path.name)
    named = {f"{r[0]}.{kind}" for r in query(data_dir, "SELECT id FROM consult_images")
             for kind in KINDS}
    return on_disk, named, temps


def percentiles(tallies: list[Tally]) -> str:
    """p50/p95/p99 in ms of every request kind the tallies recorded."""
    from econsult.turnaround.stats import nearest_rank

    merged: dict[str, list[float]] = {}
    for tally in tallies:
        for label, values in tally.latencies.items():
            merged.setdefault(label, []).extend(values)
    parts = []
    for label, values in sorted(merged.items()):
        ordered = sorted(values)
        p50, p95, p99 = (1000 * (nearest_rank(ordered, p) or 0) for p in (0.5, 0.95, 0.99))
        parts.append(f"{label} n={len(ordered)} p50 {p50:.0f} / p95 {p95:.0f} / p99 {p99:.0f} ms")
    return "; ".join(parts)
