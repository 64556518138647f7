"""Images through the JSON API: attach, serve (policy first, audited), check, refuse."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image, ImageOps
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.app import create_app
from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.consults import image_access
from econsult.db import Database
from econsult.http.state import app_state
from econsult.images.envelope import Kind, open_image
from econsult.images.store import FilesystemBlobStore
from econsult.models import AuditEvent, Consult, ConsultImage
from econsult.ops import integrity
from econsult.security.keyring import Keyring
from tests.conftest import ClientFor
from tests.factories import CHEAP_PASSWORDS, FORM, Personas, make_personas, ok, session_for
from tests.images.image_factories import (
    assert_no_metadata,
    asymmetric_pattern,
    blurred,
    encode,
    png_declaring,
    scaled_brightness,
    skin_texture,
)

GPS_MARKER = b"GPS-MARKER-7f3a9c"
SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


def phone_photo() -> bytes:
    """4032 x 3024 as the sensor stored it, EXIF orientation 6 (rotate 90 degrees
    clockwise to view), GPS position and maker tags."""
    exif = Image.Exif()
    exif[0x010F] = "SecretPhoneMaker"
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (49.0, 15.0, 30.25), 3: "W", 4: (123.0, 7.0, 0.5),
                    0x1B: b"ASCII\x00\x00\x00" + GPS_MARKER}
    stored = asymmetric_pattern(64, 48).resize((4032, 3024), Image.Resampling.NEAREST)
    return encode(stored, "JPEG", quality=90, exif=exif)


def jpeg(im: Image.Image) -> tuple[str, bytes, str]:
    return ("photo.jpg", encode(im, "JPEG", quality=92), "image/jpeg")


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


async def counts(db: Database) -> tuple[int, int]:
    async with db.read() as session:
        consults = (await session.execute(select(func.count()).select_from(Consult))).scalar()
        images = (await session.execute(select(func.count()).select_from(ConsultImage))).scalar()
    return int(consults or 0), int(images or 0)


async def image_views(db: Database, image_id: str) -> list[tuple[str, str, str]]:
    async with db.read() as session:
        rows = (await session.execute(
            select(col(AuditEvent.actor_email), col(AuditEvent.outcome), col(AuditEvent.detail))
            .where(col(AuditEvent.action) == "image.view", col(AuditEvent.object_id) == image_id)
            .order_by(col(AuditEvent.id)))).all()
    return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
async def consult(rota: None, personas: Personas, client_for: ClientFor) -> dict[str, Any]:
    gp = await client_for(personas.gp)
    files = [("images", ("IMG_0001.JPG", phone_photo(), "image/jpeg")),
             ("images", ("lesion.png", encode(skin_texture(1200, 1000), "PNG"), "image/png"))]
    response = await gp.post("/api/v1/consults", files=files, data={
        **FORM, "image_labels": ["overview", "close_up"]})
    created: dict[str, Any] = ok(response, 201)
    return created


async def test_phone_photo_is_served_upright_without_metadata_and_never_stored_in_clear(
    consult: dict[str, Any], personas: Personas, client_for: ClientFor, settings: Settings,
    db: Database,
) -> None:
    upload = phone_photo()
    assert GPS_MARKER in upload and upload.startswith(SIGNATURES[0])
    overview, close_up = consult["images"]
    assert (overview["width"], overview["height"]) == (3024, 4032)

    gp = await client_for(personas.gp)
    r = await gp.get(f"/api/v1/images/{overview['id']}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == (
        f'inline; filename="consult-{consult["id"][:8]}-overview-1.jpg"')
    assert_no_metadata(r.content, "image/jpeg")
    assert GPS_MARKER not in r.content and b"Exif" not in r.content
    with Image.open(io.BytesIO(r.content)) as served:
        assert served.size == (3024, 4032)
        got = np.asarray(served.convert("RGB").resize((63, 84)), dtype=np.int16)
    with Image.open(io.BytesIO(upload)) as source:
        upright = ImageOps.exif_transpose(source)
        assert upright is not None
        want = np.asarray(upright.convert("RGB").resize((63, 84)), dtype=np.int16)
    assert np.abs(got - want).mean() < 4  # rotated the right way, not mirrored

    thumb = await gp.get(f"/api/v1/images/{overview['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["cache-control"] == "no-store"
    assert thumb.headers["content-type"] == "image/jpeg"
    assert "overview-1-thumbnail.jpg" in thumb.headers["content-disposition"]
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert small.size == (384, 512)

    png = await gp.get(f"/api/v1/images/{close_up['id']}")
    assert png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"].endswith('-close_up-1.png"')

    files = all_files(settings.data_dir)
    assert len([f for f in files if f.is_relative_to(settings.blob_dir)]) == 4
    for path in files:
        data = path.read_bytes()
        assert not data.startswith(SIGNATURES), path
        assert GPS_MARKER not in data, path
    assert [v[:2] for v in await image_views(db, overview["id"])] == [
        ("gp@example.org", "ok"), ("gp@example.org", "ok")]


async def test_only_people_who_may_view_the_consult_get_the_image(
    consult: dict[str, Any], personas: Personas, client_for: ClientFor, anon: httpx.AsyncClient,
    db: Database, monkeypatch: pytest.MonkeyPatch,
) -> None:
    image_id = consult["images"][0]["id"]
    opened: list[str] = []

    def counting_open(keyring: Keyring, iid: uuid.UUID, kind: Kind, blob: bytes) -> bytes:
        opened.append(str(iid))
        return open_image(keyring, iid, kind, blob)

    monkeypatch.setattr(image_access, "open_image", counting_open)
    for who in ("other_gp", "derm2", "cardio", "staff", "admin"):
        client = await client_for(getattr(personas, who))
        for path in (f"/api/v1/images/{image_id}", f"/api/v1/images/{image_id}/thumbnail"):
            r = await client.get(path)
            assert r.status_code == 404, (who, r.text)
            assert r.json()["error"]["code"] == "not_found"
    assert opened == []  # nothing decrypted for anyone the policy refused
    assert await image_views(db, image_id) == []

    gp = await client_for(personas.gp)
    for unknown in ("00000000-0000-4000-8000-000000000000", "not-a-uuid",
                    image_id.upper(), consult["id"]):
        assert (await gp.get(f"/api/v1/images/{unknown}")).status_code == 404
    assert (await anon.get(f"/api/v1/images/{image_id}")).status_code == 401

    derm = await client_for(personas.derm)  # the specialist it was routed to
    r = await derm.get(f"/api/v1/images/{image_id}/thumbnail")
    assert r.status_code == 200 and r.content.startswith(SIGNATURES[0])
    assert opened == [image_id]
    assert await image_views(db, image_id) == [("derm1@example.org", "ok", "kind=thumbnail")]


async def test_a_swapped_blob_is_an_integrity_error_not_someone_elses_photo(
    consult: dict[str, Any], personas: Personas, client_for: ClientFor, app: Starlette,
    db: Database, settings: Settings,
) -> None:
    a, b = (i["id"] for i in consult["images"])
    store = FilesystemBlobStore(settings.blob_dir)
    store.path_for(f"{b}.original").write_bytes(store.path_for(f"{a}.original").read_bytes())
    gp = await client_for(personas.gp)
    r = await gp.get(f"/api/v1/images/{b}")
    assert r.status_code == 500
    assert r.headers["cache-control"] == "no-store"
    assert r.json()["error"] == {
        "code": "image_integrity",
        "message": "This image failed its integrity check and cannot be shown. The problem "
                   "has been logged; please tell the program's administrator."}
    assert (await gp.get(f"/api/v1/images/{b}/thumbnail")).status_code == 200
    assert (await gp.get(f"/api/v1/images/{a}")).status_code == 200
    assert [v[1] for v in await image_views(db, b)] == ["integrity_error", "ok"]

    svc = app_state(app)
    report = await integrity.verify_with(db, svc.keyring, store)
    assert report.images == 2
    assert [(f.image_id, f.kind) for f in report.failures] == [(b, "original")]
    assert "belongs to another image" in report.failures[0].reason


@pytest.mark.parametrize("name,data,code,says", [
    ("bomb.png", png_declaring(10_000, 10_000), "too_many_pixels", "pixels"),
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script>'
                    b"</svg>", "unsupported_format", "JPEG, PNG"),
    ("cut.jpg", encode(skin_texture(800, 600), "JPEG", quality=90)[:20_000], "truncated",
     "incomplete"),
])
async def test_hostile_uploads_are_refused_and_leave_nothing_behind(
    rota: None, personas: Personas, client_for: ClientFor, db: Database, settings: Settings,
    name: str, data: bytes, code: str, says: str,
) -> None:
    gp = await client_for(personas.gp)
    good = ("images", ("good.jpg", encode(skin_texture(1200, 1000), "JPEG"), "image/jpeg"))
    before_rows, before_files = await counts(db), all_files(settings.data_dir)
    r = await gp.post("/api/v1/consults", data=FORM,
                      files=[good, ("images", (name, data, "application/octet-stream"))])
    assert 400 <= r.status_code < 500, r.text
    error = r.json()["error"]
    assert error["message"].startswith(f"Photo 2 ({name}): ")
    assert error["code"] == code and says in error["message"]
    assert await counts(db) == before_rows
    assert all_files(settings.blob_dir) == [] and all_files(settings.data_dir) == before_files


async def test_check_warns_about_blurred_and_dark_photos_and_stores_nothing(
    personas: Personas, client_for: ClientFor, db: Database, settings: Settings,
) -> None:
    sharp = skin_texture(1600, 1200)
    gp = await client_for(personas.gp)
    before = await counts(db)
    r = await gp.post("/api/v1/images/check", files=[
        ("images", jpeg(sharp)), ("images", jpeg(blurred(sharp, 4))),
        ("images", jpeg(scaled_brightness(sharp, 0.3))),
        ("images", ("small.png", encode(sharp.resize((400, 300)), "PNG"), "image/png"))])
    images = ok(r)["images"]
    assert [i["width"] for i in images] == [1600, 1600, 1600, 400]
    assert [[w["code"] for w in i["warnings"]] for i in images] == [
        [], ["blurry"], ["too_dark"], ["low_resolution"]]
    assert "20 cm" in images[1]["warnings"][0]["message"]
    assert await counts(db) == before and all_files(settings.blob_dir) == []


async def test_check_names_the_refused_photo_and_enforces_limits(
    personas: Personas, client_for: ClientFor, anon: httpx.AsyncClient,
) -> None:
    gp = await client_for(personas.gp)
    photo = jpeg(skin_texture(1000, 1000))
    r = await gp.post("/api/v1/images/check", files=[
        ("images", photo), ("images", ("notes.svg", b"<svg></svg>", "image/svg+xml"))])
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("Photo 2 (notes.svg): ")
    assert "JPEG" in r.json()["error"]["message"]

    r = await gp.post("/api/v1/images/check", files=[("images", photo)] * 11)
    assert r.status_code == 413 and "at most 10" in r.json()["error"]["message"]
    r = await gp.post("/api/v1/images/check", files=[("other", photo)])
    assert r.status_code == 400 and "at least one" in r.json()["error"]["message"]
    r = await gp.post("/api/v1/images/check", json={"images": []})
    assert r.status_code == 400

    derm = await client_for(personas.derm)
    assert (await derm.post("/api/v1/images/check", files=[("images", photo)])).status_code \
        == 200
    staff = await client_for(personas.staff)
    assert (await staff.post("/api/v1/images/check", files=[("images", photo)])).status_code \
        == 403
    assert (await anon.post("/api/v1/images/check", files=[("images", photo)])).status_code \
        in (401, 403)


async def test_check_refuses_a_photo_over_the_per_file_cap_early(
    settings: Settings, clock: ManualClock,
) -> None:
    small = settings.with_(max_image_mb=1)
    application = create_app(small, clock=clock, passwords=CHEAP_PASSWORDS)
    async with application.router.lifespan_context(application):
        personas = await make_personas(app_state(application).db, clock)
        token, csrf = await session_for(app_state(application).db, personas.gp, clock, small)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application),
                                     base_url="http://testserver") as gp:
            gp.cookies.set(small.session_cookie_name, token)
            big = ("big.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (1024 * 1024), "image/png")
            r = await gp.post("/api/v1/images/check", files=[("images", big)],
                              headers={"X-CSRF-Token": csrf})
    assert r.status_code == 413
    assert "big.png" in r.json()["error"]["message"] and "1 MB" in r.json()["error"]["message"]
