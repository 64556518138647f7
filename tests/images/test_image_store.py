"""The filesystem blob store: what only it promises (atomic writes, fan-out, file modes,
no temp files left). The behaviour every store shares is the contract suite in
test_s3store.py, which runs against this store and the S3 one alike."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from econsult.images import BlobExists, BlobNotFound, FilesystemBlobStore
from econsult.images.store import BlobStore


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_is_a_blob_store(store: FilesystemBlobStore) -> None:
    assert isinstance(store, FilesystemBlobStore)
    typed: BlobStore = store  # mypy checks the Protocol is satisfied
    assert typed is store


async def test_fan_out_two_levels_and_modes(store: FilesystemBlobStore) -> None:
    await store.put("abc", b"x")
    path = store.path_for("abc")
    assert path.relative_to(store.root).parts[:2] == (path.parent.parent.name, path.parent.name)
    assert len(path.relative_to(store.root).parts) == 3
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_mode_is_0600_even_with_a_permissive_umask(store: FilesystemBlobStore) -> None:
    old = os.umask(0)
    try:
        await store.put("k1", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(store.path_for("k1").stat().st_mode) == 0o600


async def test_put_refuses_to_overwrite_and_replace_requires_existing(
    store: FilesystemBlobStore,
) -> None:
    await store.put("k", b"one")
    with pytest.raises(BlobExists):
        await store.put("k", b"two")
    assert await store.get("k") == b"one"
    await store.replace("k", b"two")
    assert await store.get("k") == b"two"
    with pytest.raises(BlobNotFound):
        await store.replace("missing", b"x")
    assert [p.name for p in _all_files(store.root)] == ["k"]  # no temp files left


@pytest.mark.parametrize(
    "key",
    ["../etc/passwd", "a/b", "..", ".hidden", "", "a\\b", "a\x00b", "x" * 200, "a..b", "/abs"],
)
async def test_bad_keys_are_refused(store: FilesystemBlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        await store.put(key, b"x")
    with pytest.raises(ValueError):
        await store.get(key)
    assert not store.root.exists() or not _all_files(store.root)


async def test_failed_write_leaves_no_partial_or_temp_file(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("k", b"original")
    real_fsync = os.fsync
    calls = []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        await store.replace("k", b"new contents that never land")
    with pytest.raises(OSError):
        await store.put("k2", b"new blob")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert calls
    assert await store.get("k") == b"original"
    assert not await store.exists("k2")
    assert sorted(p.name for p in _all_files(store.root)) == ["k"]


async def test_readers_never_see_a_partial_blob(
    store: FilesystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pause the writer after its temp file is written but before the rename: the key
    # must not exist yet, and the temp file must be invisible to list_keys.
    await store.put("k", b"A" * 1000)
    seen: dict[str, object] = {}
    real_replace = os.replace

    def observing_replace(src: str | Path, dst: str | Path) -> None:
        seen["during"] = store.path_for("k").read_bytes()
        seen["keys"] = store._list()
        seen["temp_exists"] = Path(src).exists()
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", observing_replace)
    await store.replace("k", b"B" * 1000)
    assert seen == {"during": b"A" * 1000, "keys": ["k"], "temp_exists": True}
    assert await store.get("k") == b"B" * 1000


async def test_list_keys_and_age(store: FilesystemBlobStore) -> None:
    keys = {f"img-{i}.original" for i in range(30)}
    for key in keys:
        await store.put(key, key.encode())
    assert set(await store.list_keys()) == keys
    assert 0 <= await store.age_seconds("img-1.original") < 60
    path = store.path_for("img-1.original")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime - 7200))
    assert await store.age_seconds("img-1.original") >= 7199
    with pytest.raises(BlobNotFound):
        await store.age_seconds("missing")


async def test_stale_temp_files_are_swept_and_never_listed(store: FilesystemBlobStore) -> None:
    await store.put("k", b"x")
    stale = store.path_for("k").with_name(".k.deadbeef.tmp")
    stale.write_bytes(b"half")
    assert await store.list_keys() == ["k"]
    assert await store.remove_stale_temp_files(older_than_seconds=3600) == 0
    os.utime(stale, (0, 0))
    assert await store.remove_stale_temp_files(older_than_seconds=3600) == 1
    assert not stale.exists() and await store.get("k") == b"x"
