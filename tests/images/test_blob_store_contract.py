"""What every blob store promises (econsult.images.store.BlobStore), held against the
filesystem store and the S3 one (moto on 127.0.0.1) alike. Each store's own concerns
are in test_image_store.py and test_s3store.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from econsult.config import Settings
from econsult.images.blobstores import blob_store_for
from econsult.images.s3store import S3BlobStore, S3Location
from econsult.images.store import BlobExists, BlobNotFound, BlobStore, FilesystemBlobStore

BAD_KEYS = ["../etc/passwd", "a/b", "..", ".hidden", "", "a\\b", "a\x00b", "x" * 200, "a..b",
            "/abs"]


@pytest.fixture(params=["filesystem", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """Built from the setting the app reads, as the app builds it."""
    if request.param == "filesystem":
        return blob_store_for(Settings(data_dir=tmp_path))
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("bucket")
    return blob_store_for(Settings(
        data_dir=tmp_path,
        blob_url=f"s3://{bucket}/images?endpoint={endpoint}&region=us-east-1"))


async def test_put_then_get_exists_and_list(store: BlobStore) -> None:
    key = f"{uuid.uuid4()}.original"
    assert not await store.exists(key)
    await store.put(key, b"sealed bytes")
    assert await store.exists(key)
    assert await store.get(key) == b"sealed bytes"
    assert await store.list_keys() == [key]


async def test_a_missing_key(store: BlobStore) -> None:
    await store.put("present", b"x")  # a neighbour, so "missing" is not an empty store
    assert not await store.exists("missing")
    with pytest.raises(BlobNotFound):
        await store.get("missing")
    with pytest.raises(BlobNotFound):
        await store.age_seconds("missing")
    with pytest.raises(BlobNotFound):
        await store.replace("missing", b"x")
    await store.delete("missing")  # not an error: GC and rollbacks may both delete
    assert await store.list_keys() == ["present"]


async def test_put_never_overwrites(store: BlobStore) -> None:
    await store.put("k", b"one")
    with pytest.raises(BlobExists):
        await store.put("k", b"two")
    assert await store.get("k") == b"one"


async def test_replace_overwrites_an_existing_blob(store: BlobStore) -> None:
    await store.put("k", b"one")
    await store.replace("k", b"two")
    assert await store.get("k") == b"two"
    assert await store.list_keys() == ["k"]


async def test_delete_removes_and_the_key_can_be_written_again(store: BlobStore) -> None:
    await store.put("k", b"one")
    await store.delete("k")
    assert not await store.exists("k")
    with pytest.raises(BlobNotFound):
        await store.get("k")
    assert await store.list_keys() == []
    await store.delete("k")
    await store.put("k", b"two")
    assert await store.get("k") == b"two"


async def test_simultaneous_puts_of_one_key_have_one_winner(store: BlobStore) -> None:
    payloads = [bytes([i]) * 64 for i in range(6)]
    results = await asyncio.gather(*(store.put("race", p) for p in payloads),
                                   return_exceptions=True)
    winners = [p for p, r in zip(payloads, results, strict=True) if r is None]
    assert len(winners) == 1
    assert all(isinstance(r, BlobExists) for r in results if r is not None)
    assert await store.get("race") == winners[0]


async def test_binary_content_round_trips_exactly(store: BlobStore) -> None:
    data = bytes(range(256)) * 4096 + b"\x00"  # 1 MiB and a byte, every byte value
    await store.put("big.original", data)
    assert await store.get("big.original") == data


async def test_list_keys_gives_every_key_once(store: BlobStore) -> None:
    assert await store.list_keys() == []
    keys = {f"img-{i}.thumbnail" for i in range(12)}
    await asyncio.gather(*(store.put(k, k.encode()) for k in keys))
    listed = await store.list_keys()
    assert sorted(listed) == sorted(keys)


async def test_age_is_the_time_since_the_blob_was_written(store: BlobStore) -> None:
    before = time.time()
    await store.put("k", b"x")
    age = await store.age_seconds("k")
    # S3's Last-Modified has whole seconds: up to one more than really went by.
    assert 0 <= age <= time.time() - before + 1


class _NoServer:
    """Stands in for the S3 client where nothing may reach the server at all."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        raise AssertionError(f"the S3 client was asked to {name}")


@pytest.fixture(params=["filesystem", "s3"])
def offline_store(request: pytest.FixtureRequest,
                  tmp_path: Path) -> tuple[BlobStore, Callable[[], bool]]:
    """A store, and a check that it has touched no disk or server."""
    if request.param == "filesystem":
        root = tmp_path / "blobs"
        return FilesystemBlobStore(root), lambda: not root.exists()
    client = _NoServer()
    return S3BlobStore(S3Location(bucket="econsult-unused"), client=client), \
        lambda: client.calls == []


@pytest.mark.parametrize("key", BAD_KEYS)
async def test_bad_keys_are_refused_before_anything_is_stored(
    offline_store: tuple[BlobStore, Callable[[], bool]], key: str,
) -> None:
    store, untouched = offline_store
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "put": lambda: store.put(key, b"x"), "replace": lambda: store.replace(key, b"x"),
        "get": lambda: store.get(key), "exists": lambda: store.exists(key),
        "delete": lambda: store.delete(key), "age_seconds": lambda: store.age_seconds(key),
    }
    for name, call in calls.items():
        with pytest.raises(ValueError):
            await call()
        assert untouched(), name
