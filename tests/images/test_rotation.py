"""Key rotation and retirement over real consults with images, in both key modes:
a key file (`econsult keys rotate` makes the new KEK) and ECONSULT_MASTER_KEY (the
operator puts a new key first in the variable, then runs rotate to re-wrap)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from econsult.app import create_app
from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.errors import Conflict, InvalidInput
from econsult.http.state import app_state
from econsult.images.envelope import blob_kek_id
from econsult.images.store import FilesystemBlobStore
from econsult.models import Consult, ConsultImage, Message, User
from econsult.ops import integrity, keys
from econsult.security.keyring import (
    Kek,
    Keyring,
    ensure_key_file,
    kek_id_for,
    load_key_file,
    new_key,
    save_key_file,
    token_kek_id,
)
from tests.factories import (
    CHEAP_PASSWORDS,
    FORM,
    Personas,
    dermatology_on_call,
    make_personas,
    ok,
    session_for,
)
from tests.images.image_factories import encode, skin_texture


@asynccontextmanager
async def running(settings: Settings, clock: ManualClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, clock=clock, passwords=CHEAP_PASSWORDS)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def login(app: Starlette, user: User) -> AsyncIterator[httpx.AsyncClient]:
    ctx = app_state(app)
    token, csrf = await session_for(ctx.db, user, ctx.clock, ctx.settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://testserver",
                                 headers={"X-CSRF-Token": csrf}) as client:
        client.cookies.set(ctx.settings.session_cookie_name, token)
        yield client


def photo(seed: int) -> tuple[str, bytes, str]:
    return (f"p{seed}.jpg", encode(skin_texture(1100, 1000, seed=seed), "JPEG"), "image/jpeg")


async def seed_consult(app: Starlette, clock: ManualClock) -> tuple[Personas, str]:
    """A consult with two photos, acknowledged, plus a specialist message with a third."""
    personas = await make_personas(app_state(app).db, clock)
    await dermatology_on_call(app_state(app).db, personas, clock.now())
    async with login(app, personas.gp) as gp:
        created = ok(await gp.post("/api/v1/consults", data={
            **FORM, "image_labels": ["overview", "close_up"]},
            files=[("images", photo(1)), ("images", photo(2))]), 201)
    async with login(app, personas.derm) as derm:
        ok(await derm.post(f"/api/v1/consults/{created['id']}/acknowledge"))
        ok(await derm.post(f"/api/v1/consults/{created['id']}/messages", data={
            "body": "Dermoscopy attached; please describe the border.", "kind": "message"},
            files=[("images", photo(3))]), 201)
    return personas, created["id"]


async def snapshot(app: Starlette, user: User, consult_id: str) -> dict[str, Any]:
    """Everything the GP can see of the consult: decrypted fields and image bytes."""
    async with login(app, user) as client:
        detail = ok(await client.get(f"/api/v1/consults/{consult_id}"))
        ids = [i["id"] for i in detail["images"]] + [
            i["id"] for m in detail["messages"] for i in m["images"]]
        assert len(ids) == 3
        served = {}
        for image_id in ids:
            for suffix in ("", "/thumbnail"):
                r = await client.get(f"/api/v1/images/{image_id}{suffix}")
                assert r.status_code == 200, r.text
                served[image_id + suffix] = r.content
    clinical = {k: detail[k] for k in ("patient", "question", "details")}
    clinical["messages"] = [m["body"] for m in detail["messages"]]
    return {"clinical": clinical, "images": served}


def blobs_on_disk(settings: Settings) -> dict[str, bytes]:
    store = FilesystemBlobStore(settings.blob_dir)
    return {p.name: p.read_bytes() for p in store.root.rglob("*") if p.is_file()}


def _body(blob: bytes) -> bytes:
    """Nonce and ciphertext: everything after the (re-wrappable) header."""
    wrapped_len = int.from_bytes(blob[23:25], "big")
    return blob[25 + wrapped_len:]


async def sealed_kek_ids(app: Starlette) -> set[str]:
    async with app_state(app).db.read() as session:
        consult = (await session.execute(select(Consult))).scalar_one()
        messages = list((await session.execute(select(Message))).scalars())
        images = list((await session.execute(select(ConsultImage))).scalars())
    tokens = [consult.patient_name, consult.patient_dob, consult.patient_health_number,
              consult.question, consult.clinical_details, *(m.body for m in messages)]
    return ({token_kek_id(t) for t in tokens if t is not None}
            | {"row:" + i.kek_id for i in images})


async def test_rotation_rewraps_images_and_fields_and_retire_waits_for_it(
    settings: Settings, clock: ManualClock,
) -> None:
    settings = settings.with_(master_key=None)  # key-file mode
    ensure_key_file(settings.key_file)
    old = load_key_file(settings.key_file).active_id
    async with running(settings, clock) as app:
        personas, consult_id = await seed_consult(app, clock)
        before = await snapshot(app, personas.gp, consult_id)
        assert await sealed_kek_ids(app) == {old, "row:" + old}
    blobs_before = blobs_on_disk(settings)
    assert len(blobs_before) == 6

    with pytest.raises(Conflict, match="active"):
        await keys.retire(settings, old)
    # An interrupted rotation: a new active KEK in the key file, nothing re-wrapped yet.
    interrupted = Kek.from_bytes(new_key())
    save_key_file(settings.key_file, Keyring(interrupted, [load_key_file(
        settings.key_file).active]))
    with pytest.raises(Conflict) as refused:
        await keys.retire(settings, old)
    assert "3 images" in refused.value.message and "fields" in refused.value.message

    seen: list[tuple[str, int, int]] = []
    new, counts = await keys.rotate(settings, progress=lambda *a: seen.append(a))
    assert new not in (old, interrupted.id)
    # 1 consult + 1 message; 3 images; the consult's search tokens; and every audit
    # entry so far, re-signed under the new key (issue 15's keyed chain)
    audited = counts.pop("audit entries")
    assert counts == {"fields": 2, "images": 3, "search": 1} and audited > 0
    assert ("images", 0, 3) in seen and ("images", 3, 3) in seen
    assert ("search", 1, 1) in seen and seen[-1] == ("audit entries", audited, audited)
    assert ("fields", 2, 2) in seen

    blobs_after = blobs_on_disk(settings)
    assert blobs_after.keys() == blobs_before.keys()
    for name, blob in blobs_after.items():
        assert blob_kek_id(blob) == new and blob_kek_id(blobs_before[name]) == old
        assert _body(blob) == _body(blobs_before[name])  # the image was not re-encrypted

    await keys.retire(settings, old)
    await keys.retire(settings, interrupted.id)
    assert load_key_file(settings.key_file).ids == [new]  # only the new KEK is left
    async with running(settings, clock) as app:  # a restart loads the new key file
        assert await snapshot(app, personas.gp, consult_id) == before
        assert await sealed_kek_ids(app) == {new, "row:" + new}
    assert (await integrity.verify_images(settings)).ok


def cli(settings: Settings, *args: str,
        master_key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECONSULT_")}
    env["ECONSULT_DATA_DIR"] = str(settings.data_dir)
    env["ECONSULT_DATABASE_URL"] = settings.database_url
    if master_key:
        env["ECONSULT_MASTER_KEY"] = master_key
    return subprocess.run([sys.executable, "-m", "econsult", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def test_cli_rotate_verify_and_retire_with_a_key_file(
    settings: Settings, clock: ManualClock,
) -> None:
    settings = settings.with_(master_key=None)
    ensure_key_file(settings.key_file)
    old = load_key_file(settings.key_file).active_id
    async with running(settings, clock) as app:
        personas, consult_id = await seed_consult(app, clock)
        before = await snapshot(app, personas.gp, consult_id)

    refused = cli(settings, "keys", "retire", old)
    assert refused.returncode == 1 and "rotate first" in refused.stderr
    rotated = cli(settings, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new = json.loads(settings.key_file.read_text())["active"]
    assert f"active KEK is now {new}; re-wrapped 2 fields, 3 images" in rotated.stdout
    assert "images     [##############################] 3/3" in rotated.stderr
    verified = cli(settings, "images", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.strip() == "all 3 images decrypt (original and thumbnail)"
    retired = cli(settings, "keys", "retire", old)
    assert retired.returncode == 0, retired.stderr
    async with running(settings, clock) as app:
        assert await snapshot(app, personas.gp, consult_id) == before

    # Copy one image's original over another's: the swap is caught and named.
    store = FilesystemBlobStore(settings.blob_dir)
    ids = sorted(p.name.split(".")[0] for p in Path(settings.blob_dir).rglob("*.original"))
    store.path_for(f"{ids[1]}.original").write_bytes(
        store.path_for(f"{ids[0]}.original").read_bytes())
    broken = cli(settings, "images", "verify")
    assert broken.returncode == 1
    assert f"FAILED {ids[1]} (original): image {ids[1]} (original)" in broken.stdout
    assert "1 of 3 images failed to decrypt" in broken.stdout


async def test_rotation_when_the_kek_comes_from_the_environment(
    settings: Settings, clock: ManualClock,
) -> None:
    assert settings.master_key
    old_key = settings.master_key
    async with running(settings, clock) as app:
        personas, consult_id = await seed_consult(app, clock)
        before = await snapshot(app, personas.gp, consult_id)

    # Rotating without a new key in the variable re-wraps nothing: all is current.
    assert (await keys.rotate(settings))[1] == {"fields": 0, "images": 0, "search": 0,
                                                "audit entries": 0}
    fresh = base64.b64encode(new_key()).decode()
    both = settings.with_(master_key=f"{fresh},{old_key}")
    with pytest.raises(InvalidInput, match="ECONSULT_MASTER_KEY"):
        await keys.retire(both, kek_id_for(base64.b64decode(old_key)))
    rotated = cli(settings, "keys", "rotate", master_key=both.master_key)
    assert rotated.returncode == 0, rotated.stderr
    assert f"active KEK is now {kek_id_for(base64.b64decode(fresh))}" in rotated.stdout
    assert "2 fields, 3 images" in rotated.stdout

    # The old key alone can no longer open anything; the new one alone opens everything.
    stale = await integrity.verify_images(settings)
    assert len(stale.failures) == 6 and "not in the keyring" in stale.failures[0].reason
    only_new = settings.with_(master_key=fresh)
    verified = cli(settings, "images", "verify", master_key=fresh)
    assert verified.returncode == 0, verified.stdout
    async with running(only_new, clock) as app:
        assert await snapshot(app, personas.gp, consult_id) == before
