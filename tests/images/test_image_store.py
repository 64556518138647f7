"""The filesystem blob store: what only it promises (atomic writes, fan-out, file modes,
no temp files left, age from the file's mtime). The behaviour every store shares is in
test_blob_store_contract.py, which runs against this store and the S3 one alike."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from econsult.images import BlobExists, BlobNotFound, FilesystemBlobStore


@pytest.fixture
def store(tmp_path: Path) -> FilesystemBlobStore:
    return FilesystemBlobStore(tmp_path / "blobs")


def _all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


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


async def test_refused_and_successful_writes_leave_only_the_blob_on_disk(
    store: FilesystemBlobStore,
) -> None:
    with pytest.raises(ValueError):
        await store.put("../k", b"x")
    assert not store.root.exists()  # a bad key is refused before any directory is made
    await store.put("k", b"one")
    with pytest.raises(BlobExists):
        await store.put("k", b"two")
    await store.replace("k", b"two")
    with pytest.raises(BlobNotFound):
        await store.replace("missing", b"x")
    assert [p.name for p in _all_files(store.root)] == ["k"]  # no temp files left


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


async def test_age_follows_the_files_modification_time(store: FilesystemBlobStore) -> None:
    await store.put("k", b"x")
    path = store.path_for("k")
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime - 7200))
    assert 7200 <= await store.age_seconds("k") < 7200 + 60
    await store.replace("k", b"y")  # a new file: young again
    assert await store.age_seconds("k") < 7200


async def test_keys_spread_over_the_fan_out_are_all_listed(store: FilesystemBlobStore) -> None:
    keys = {f"img-{i}.original" for i in range(30)}
    for key in keys:
        await store.put(key, key.encode())
    assert len({store.path_for(k).parent for k in keys}) > 1
    assert sorted(await store.list_keys()) == sorted(keys)


async def test_stale_temp_files_are_swept_and_never_listed(store: FilesystemBlobStore) -> None:
    await store.put("k", b"x")
    stale = store.path_for("k").with_name(".k.deadbeef.tmp")
    stale.write_bytes(b"half")
    assert await store.list_keys() == ["k"]
    assert await store.remove_stale_temp_files(older_than_seconds=3600) == 0
    os.utime(stale, (0, 0))
    assert await store.remove_stale_temp_files(older_than_seconds=3600) == 1
    assert not stale.exists() and await store.get("k") == b"x"
