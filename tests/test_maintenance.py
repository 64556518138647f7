"""Upkeep services: garbage collection of orphan blobs, image verification, and the
re-keying walks behind `econsult keys rotate` (batches, failures, counts)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.config import Settings
from econsult.db import Database
from econsult.http.state import app_state
from econsult.images.store import FilesystemBlobStore
from econsult.models import AuditEvent
from econsult.ops import integrity, rekey
from econsult.security.fields import FieldCipher
from econsult.security.keyring import Kek, Keyring, new_key
from tests.conftest import ClientFor
from tests.factories import Personas, ok, submit
from tests.images.image_factories import encode, skin_texture

HOURS_AGO_2 = time.time() - 2 * 3600


async def submit_with_photo(client_for: ClientFor, personas: Personas) -> dict[str, Any]:
    gp = await client_for(personas.gp)
    photo = ("p.jpg", encode(skin_texture(1000, 1000), "JPEG"), "image/jpeg")
    created: dict[str, Any] = ok(await submit(gp, files=[("images", photo)]), 201)
    return created


def age(store: FilesystemBlobStore, key: str) -> None:
    os.utime(store.path_for(key), (HOURS_AGO_2, HOURS_AGO_2))


async def test_gc_removes_old_orphans_only(
    rota: None, personas: Personas, client_for: ClientFor, settings: Settings,
) -> None:
    image_id = (await submit_with_photo(client_for, personas))["images"][0]["id"]
    store = FilesystemBlobStore(settings.blob_dir)
    referenced = [f"{image_id}.original", f"{image_id}.thumbnail"]
    old_orphan, young_orphan = f"{uuid.uuid4()}.original", f"{uuid.uuid4()}.thumbnail"
    for key in (old_orphan, young_orphan, "stray-file"):
        await store.put(key, b"sealed bytes")
    for key in (*referenced, old_orphan, "stray-file"):
        age(store, key)
    fanout = store.path_for(old_orphan).parent
    (fanout / ".stale.tmp").write_bytes(b"half a blob")
    os.utime(fanout / ".stale.tmp", (HOURS_AGO_2, HOURS_AGO_2))
    (fanout / ".fresh.tmp").write_bytes(b"being written")

    report = await integrity.gc(settings, min_age_seconds=3600)
    assert sorted(report.removed) == sorted([old_orphan, "stray-file"])
    assert report.kept_young == 1 and report.temp_files == 1
    assert sorted(await store.list_keys()) == sorted([*referenced, young_orphan])
    assert (fanout / ".fresh.tmp").exists() and not (fanout / ".stale.tmp").exists()

    gp = await client_for(personas.gp)
    assert (await gp.get(f"/api/v1/images/{image_id}")).status_code == 200


async def test_gc_command_prints_what_it_removed(settings: Settings) -> None:
    store = FilesystemBlobStore(settings.blob_dir)
    orphan = f"{uuid.uuid4()}.original"
    store._write(orphan, b"sealed", False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECONSULT_")}
    env.update(ECONSULT_DATA_DIR=str(settings.data_dir),
               ECONSULT_DATABASE_URL=settings.database_url,
               ECONSULT_MASTER_KEY=settings.master_key or "")

    def gc(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "econsult", "gc", *args], env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert gc() == ("removed 0 orphan blobs and 0 stale temp files; kept 1 unreferenced "
                    "blobs younger than 3600 s\n")
    assert gc("--min-age", "0") == (f"removed {orphan}\nremoved 1 orphan blobs and 0 stale "
                                    "temp files; kept 0 unreferenced blobs younger than 0 s\n")
    assert store._list() == []
    audit = subprocess.run([sys.executable, "-m", "econsult", "audit", "verify"], env=env,
                           capture_output=True, text=True, timeout=120, check=False)
    assert audit.returncode == 0, audit.stdout
    db = Database.from_settings(settings)
    try:
        async with db.read() as session:
            rows = (await session.execute(
                select(col(AuditEvent.actor_email), col(AuditEvent.detail))
                .where(col(AuditEvent.action) == "blobs.gc").order_by(col(AuditEvent.id)))).all()
    finally:
        await db.dispose()
    assert [tuple(r) for r in rows] == [("cli", "removed=0 temp_files=0 kept_young=1"),
                    ("cli", "removed=1 temp_files=0 kept_young=0")]


async def test_startup_gc_cleans_up_and_never_raises(
    app: Starlette, caplog: pytest.LogCaptureFixture,
) -> None:
    svc = app_state(app)
    blobs = svc.blobs
    assert isinstance(blobs, FilesystemBlobStore)  # no ECONSULT_BLOB_URL in the tests
    orphan = f"{uuid.uuid4()}.original"
    await blobs.put(orphan, b"sealed")
    age(blobs, orphan)
    await integrity.startup_gc(svc.db, blobs)
    assert await blobs.list_keys() == []

    class Broken(FilesystemBlobStore):
        async def list_keys(self) -> list[str]:
            raise OSError("disk gone")

    with caplog.at_level(logging.ERROR):
        await integrity.startup_gc(svc.db, Broken(blobs.root))
    assert "start-up blob garbage collection failed" in caplog.text


async def test_verify_reports_a_missing_blob(
    rota: None, personas: Personas, client_for: ClientFor, app: Starlette, settings: Settings,
) -> None:
    image_id = (await submit_with_photo(client_for, personas))["images"][0]["id"]
    assert (await integrity.verify_images(settings)).ok
    await app_state(app).blobs.delete(f"{image_id}.thumbnail")
    report = await integrity.verify_images(settings)
    assert report.images == 1 and not report.ok
    assert [(f.image_id, f.kind, f.reason) for f in report.failures] == [
        (image_id, "thumbnail", "the blob is missing")]


async def test_fields_are_resealed_in_batches_and_counted(
    rota: None, personas: Personas, client_for: ClientFor, app: Starlette, settings: Settings,
) -> None:
    gp = await client_for(personas.gp)
    ids = [ok(await submit(gp, question=f"Question number {n} about a rash?"), 201)["id"]
           for n in range(5)]
    db: Database = app_state(app).db
    old: Keyring = app_state(app).keyring
    rotated = Keyring(Kek.from_bytes(new_key()), [old.active])
    # four identifiers and the dermatology details on each consult
    assert await rekey.count_fields(db, old.active_id, settings) == 5 * 5

    seen: list[tuple[int, int]] = []
    changed = await rekey.rekey_fields(db, rotated, settings,
                                             lambda d, t: seen.append((d, t)), batch=2)
    assert changed == 5
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
    assert await rekey.count_fields(db, old.active_id, settings) == 0
    assert await rekey.count_fields(db, rotated.active_id, settings) == 25
    assert await rekey.rekey_fields(db, rotated, settings, batch=2) == 0

    cipher = FieldCipher(Keyring(rotated.active))  # the old KEK is not needed any more
    from econsult.models import Consult

    async with db.read() as session:
        consult = await session.get(Consult, ids[3])
    assert consult is not None
    assert cipher.open("consults", "question", ids[3], consult.question) == \
        "Question number 3 about a rash?"


async def test_one_damaged_image_does_not_stop_rotation(
    rota: None, personas: Personas, client_for: ClientFor, app: Starlette, settings: Settings,
) -> None:
    first = (await submit_with_photo(client_for, personas))["images"][0]["id"]
    second = (await submit_with_photo(client_for, personas))["images"][0]["id"]
    store = FilesystemBlobStore(settings.blob_dir)
    store.path_for(f"{second}.thumbnail").write_bytes(
        store.path_for(f"{first}.thumbnail").read_bytes())
    db: Database = app_state(app).db
    old: Keyring = app_state(app).keyring
    rotated = Keyring(Kek.from_bytes(new_key()), [old.active])

    with pytest.raises(rekey.RekeyIncomplete) as failed:
        await rekey.rekey_images(db, rotated, settings)
    assert "1 images could not be re-keyed" in failed.value.message
    assert second in failed.value.message and first not in failed.value.message
    assert await rekey.count_images(db, old.active_id, settings) == 1
    assert await rekey.count_images(db, rotated.active_id, settings) == 1
    report = await integrity.verify_with(db, rotated, store)
    assert [(f.image_id, f.kind) for f in report.failures] == [(second, "thumbnail")]
