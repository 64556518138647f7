"""`econsult backup` while GPs keep submitting consults with photos, then `econsult
restore` into a fresh data directory with the same keys: everything that existed when
the backup started is there, intact and decryptable, and the copy is self-consistent."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from econsult.config import Settings
from econsult.images.store import FilesystemBlobStore
from econsult.ops import backup
from econsult.security.keyring import new_key
from tests.reliability.conftest import MakeServer, prepare_data_dir
from tests.reliability.live import logged_in, login, run_cli
from tests.reliability.workload import (
    Accepted,
    Tally,
    blob_census,
    check_intact,
    gp_loop,
    keyring_of,
    query,
)

GPS = ("gp@demo.econsult.org", "gp2@demo.econsult.org", "gp3@demo.econsult.org")


async def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_backup_under_write_load_restores_everything(make_server: MakeServer,
                                                           tmp_path: Path) -> None:
    server = await make_server("live")
    await server.start()
    dest = tmp_path / "backup"
    clients = [await login(server.base_url, gp) for gp in GPS]
    tally, stop = Tally(), asyncio.Event()
    tasks = [asyncio.create_task(gp_loop(c, gp, tally, stop, rng=random.Random(i)))
             for i, (c, gp) in enumerate(zip(clients, GPS, strict=True))]
    try:
        await wait_until(lambda: sum(len(a.image_ids) for a in tally.accepted) >= 10, 60,
                         "10 images accepted")
        before = list(tally.accepted)  # each of these had its 201 before the backup began
        started = time.monotonic()
        code, out, err = await run_cli(server.data_dir, "backup", str(dest))
        finished = time.monotonic()
        await wait_until(lambda: tally.accepted[-1].at > finished, 30, "writes after backup")
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
        for client in clients:
            await client.aclose()
    assert code == 0, out + err
    assert "keys are NOT in the backup" in out
    during = sum(1 for a in tally.accepted if started < a.at < finished)
    server.stop()
    assert not tally.server_errors and set(tally.statuses) == {201}, tally.statuses
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["keys_included"] is False
    assert not [p for p in dest.rglob("*") if p.name.startswith("keys")]
    key_material = json.loads((server.data_dir / "keys.json").read_text())["keys"]
    assert not any(k in (dest / "manifest.json").read_text() for k in key_material)
    assert manifest["counts"]["consults"] >= len(before)

    restored = await make_server("restored", seed=False)
    restored.data_dir.mkdir()
    shutil.copy2(server.data_dir / "keys.json", restored.data_dir / "keys.json")
    code, out, err = await run_cli(restored.data_dir, "restore", str(dest))
    assert code == 0, out + err
    assert "images decrypt" in out, out

    images = check_intact(restored.data_dir, before, keyring_of(restored.data_dir))
    on_disk, named, temps = blob_census(restored.data_dir)
    assert on_disk == named and not temps  # the snapshot's rows and blobs agree exactly
    for table, count in manifest["counts"].items():
        where = " WHERE action != 'images.verify'" if table == "audit_events" else ""
        assert query(restored.data_dir, f"SELECT count(*) FROM {table}{where}")[0][0] == count
    code, out, err = await run_cli(restored.data_dir, "audit", "verify")
    assert code == 0, out + err

    await restored.start()
    await read_back(restored.base_url, before)
    restored.stop()
    print(f"\nbackup under load: took {finished - started:.2f} s (CLI start included) while "
          f"{during} more consults were accepted; the snapshot holds "
          f"{manifest['counts']['consults']} consults and {images} images, all decrypting; "
          f"all {len(before)} accepted before it began read back through the API; "
          f"{len(tally.accepted)} accepted in all")

    code, out, err = await run_cli(restored.data_dir, "restore", str(dest))
    assert code == 1 and "refusing to overwrite" in err, out + err

    tampered = tmp_path / "tampered"
    shutil.copytree(dest, tampered)
    key = next(iter(manifest["blobs"]))
    blob = FilesystemBlobStore(tampered / "blobs").path_for(key)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy2(server.data_dir / "keys.json", fresh / "keys.json")
    code, out, err = await run_cli(fresh, "restore", str(tampered))
    assert code == 1 and f"blob {key}: sha256 differs" in err, out + err
    assert not (fresh / "econsult.db").exists() and not (fresh / "blobs").exists()


async def read_back(base_url: str, before: list[Accepted]) -> None:
    """Through the restored server's API, each GP reads their consults: the question they
    wrote, the images they were told of, and each image's pixels."""
    for gp in GPS:
        mine = [a for a in before if a.gp == gp]
        async with logged_in(base_url, gp) as client:
            for accepted in mine:
                response = await client.get(f"/consults/{accepted.consult_id}")
                assert response.status_code == 200, response.text
                detail = response.json()
                assert detail["question"] == accepted.question
                assert [i["id"] for i in detail["images"]] == list(accepted.image_ids)
                for image in detail["images"]:
                    got = await client.get(f"/images/{image['id']}")
                    assert got.status_code == 200, got.text
                    with Image.open(io.BytesIO(got.content)) as picture:
                        assert picture.size == (image["width"], image["height"])


async def test_backup_and_restore_refusals(tmp_path: Path) -> None:
    live = await prepare_data_dir(tmp_path / "live")
    dest = tmp_path / "backup"
    report = await backup.backup(live, dest)
    assert report.counts["users"] > 0 and report.blobs == 0
    with pytest.raises(backup.BackupError, match="not empty"):
        await backup.backup(live, dest)
    with pytest.raises(backup.BackupError, match="refusing to overwrite"):
        await backup.restore(live, dest)

    no_keys = Settings.from_env({"ECONSULT_DATA_DIR": str(tmp_path / "no-keys")})
    with pytest.raises(backup.BackupError, match="keys are not part of the backup"):
        await backup.restore(no_keys, dest)
    other_key = base64.b64encode(new_key()).decode()
    wrong_keys = no_keys.with_(master_key=other_key)
    with pytest.raises(backup.BackupError, match="lacks KEK"):
        await backup.restore(wrong_keys, dest)

    right = Settings.from_env({"ECONSULT_DATA_DIR": str(tmp_path / "right"),
                               "ECONSULT_MASTER_KEY": ",".join(
                                   [other_key, _key_file_keys(live.key_file)])})
    db = dest / "econsult.db"
    original = db.read_bytes()
    db.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(backup.BackupError, match="econsult.db: sha256 differs"):
        await backup.restore(right, dest)
    assert not right.data_dir.exists()
    db.write_bytes(original)
    restored = await backup.restore(right, dest)
    assert restored.counts == report.counts

    (dest / "manifest.json").unlink()
    with pytest.raises(backup.BackupError, match="not a complete backup"):
        await backup.restore(Settings.from_env({"ECONSULT_DATA_DIR": str(tmp_path / "again")}),
                             dest)
    postgres = live.with_(database_url="postgresql+asyncpg://econsult@127.0.0.1/econsult")
    with pytest.raises(backup.BackupError, match="pg_dump"):
        await backup.backup(postgres, tmp_path / "pg")


def _key_file_keys(path: Path) -> str:
    return ",".join(json.loads(path.read_text())["keys"])
