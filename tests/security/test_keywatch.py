"""A rotation done by the CLI reaches a running server without a restart."""

from __future__ import annotations

import os
from pathlib import Path

from econsult.security.keyring import Kek, Keyring, load_key_file, new_key, save_key_file
from econsult.security.keywatch import KeyFileWatcher


def test_watcher_reloads_the_rotated_key_file_in_place(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = Keyring(Kek.from_bytes(new_key()))
    save_key_file(path, first)
    live = load_key_file(path)
    token = live.seal(b"patient", b"aad")
    watcher = KeyFileWatcher(live, path)
    assert watcher.check() is False  # nothing changed yet

    rotated = Keyring(Kek.from_bytes(new_key()), [first.get(first.active_id)])
    save_key_file(path, rotated)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert watcher.check() is True
    assert live.active_id == rotated.active_id  # new seals use the new KEK...
    assert live.open(token, b"aad") == b"patient"  # ...and old data still opens


def test_an_unreadable_key_file_keeps_the_old_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    save_key_file(path, Keyring(Kek.from_bytes(new_key())))
    live = load_key_file(path)
    before = live.active_id
    watcher = KeyFileWatcher(live, path)
    path.write_text("{not json")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert watcher.check() is False
    assert live.active_id == before
