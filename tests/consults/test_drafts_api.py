"""Drafts through the JSON API: saved as typed, encrypted at rest, photos uploaded once
into the draft and previewed as a clean JPEG, sent by reference and only once, visible
to no one but the author and the GP it is for, and removed with their blobs when old."""

from __future__ import annotations

import io
import sqlite3
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.consults import drafts
from econsult.db import Database
from econsult.http.state import app_state
from econsult.images.blobstores import blob_store_for
from econsult.models import AuditEvent, Consult, ConsultImage, Draft, DraftImage, User
from econsult.ops import integrity
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, make_delegate, ok, put_on_call
from tests.images.image_factories import TESTDATA, assert_no_metadata, encode, skin_texture

pytestmark = pytest.mark.usefixtures("on_call")

HEIC = TESTDATA / "phones" / "pug.heic"
PATIENT = "Zebedee Quixote-Marchbanks"
FIELDS = {**FORM, "patient_name": PATIENT, "duration": "3 months",
          "lesion_description": "8 mm, two colours"}


@pytest.fixture
async def on_call(db: Database, personas: Personas, clock: ManualClock) -> None:
    await put_on_call(db, personas.derm, "dermatology", clock.now())


def jpeg_photo(seed: int = 0) -> tuple[str, bytes, str]:
    return (f"p{seed}.jpg", encode(skin_texture(800, 600, seed=seed), "JPEG", quality=90),
            "image/jpeg")


async def new_draft(client: httpx.AsyncClient, **fields: str) -> str:
    draft = ok(await client.post("/api/v1/drafts", json=fields or FIELDS), 201)
    assert isinstance(draft["id"], str)
    return str(draft["id"])


async def attach(client: httpx.AsyncClient, draft_id: str, photo: tuple[str, bytes, str],
                 label: str = "overview") -> dict[str, object]:
    body = ok(await client.post(f"/api/v1/drafts/{draft_id}/images",
                                data={"label": label}, files=[("images", photo)]), 201)
    [image] = body["images"]
    assert isinstance(image, dict)
    return image


async def count(db: Database, model: object) -> int:
    async with db.read() as session:
        return int((await session.execute(
            select(func.count()).select_from(model))).scalar_one())  # type: ignore[arg-type]


async def test_a_draft_is_saved_read_listed_and_discarded(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    gp = await client_for(personas.gp)
    created = ok(await gp.post("/api/v1/drafts", json={"patient_name": "Pat"}), 201)
    draft_id = created["id"]
    assert created["fields"] == {"patient_name": "Pat"} and created["images"] == []
    saved = ok(await gp.put(f"/api/v1/drafts/{draft_id}", json=FIELDS))
    assert saved["fields"]["question"] == FIELDS["question"]
    assert ok(await gp.get(f"/api/v1/drafts/{draft_id}"))["fields"] == saved["fields"]
    [listed] = ok(await gp.get("/api/v1/drafts"))["drafts"]
    assert listed["id"] == draft_id and listed["patient_name"] == FIELDS["patient_name"]
    assert listed["question"].startswith("Pigmented lesion")
    # Bad input is refused whole, and the draft is unchanged.
    bad = await gp.put(f"/api/v1/drafts/{draft_id}", json={"nonsense": "x"})
    assert bad.status_code == 400 and bad.json()["error"]["field"] == "nonsense"
    long = await gp.put(f"/api/v1/drafts/{draft_id}", json={"patient_name": "x" * 201})
    assert long.status_code == 400
    assert ok(await gp.put(f"/api/v1/drafts/{draft_id}", json={"question": 5}), 400)
    assert ok(await gp.get(f"/api/v1/drafts/{draft_id}"))["fields"] == saved["fields"]
    assert (await gp.delete(f"/api/v1/drafts/{draft_id}")).status_code == 204
    assert (await gp.get(f"/api/v1/drafts/{draft_id}")).status_code == 404
    assert ok(await gp.get("/api/v1/drafts"))["drafts"] == []


async def test_drafts_are_encrypted_at_rest(client_for: ClientFor, personas: Personas,
                                            settings: Settings, app: object) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    await app_state(app).session_touches.drain()  # type: ignore[arg-type]
    if not settings.is_sqlite:
        pytest.skip("reads the SQLite file")
    raw = sqlite3.connect(settings.data_dir / "econsult.db")
    try:
        raw.execute("PRAGMA wal_checkpoint(FULL)")
        (sealed,) = raw.execute("SELECT fields FROM drafts WHERE id = ?", (draft_id,)).fetchone()
        dump = "\n".join(raw.iterdump())
    finally:
        raw.close()
    assert PATIENT.encode() not in bytes(sealed)
    assert PATIENT not in dump and "Quixote" not in dump
    assert FIELDS["patient_health_number"] not in dump
    # ...and nothing of it in the WAL or the file itself either.
    for path in Path(settings.data_dir).glob("econsult.db*"):
        assert b"Quixote" not in path.read_bytes(), path


async def test_a_photo_is_uploaded_once_and_sent_by_reference(
        client_for: ClientFor, personas: Personas, db: Database, app: object) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    image = await attach(gp, draft_id, jpeg_photo(1))
    assert image["label"] == "overview" and image["width"] == 800
    blobs = app_state(app).blobs  # type: ignore[arg-type]
    keys_before = set(await blobs.list_keys())
    assert {f"{image['id']}.original", f"{image['id']}.thumbnail"} <= keys_before
    sent = ok(await gp.post(f"/api/v1/drafts/{draft_id}/send"), 201)
    assert sent["state"] == "assigned" and sent["assigned_to"] == personas.derm.id
    assert [i["id"] for i in sent["images"]] == [image["id"]]
    # Moved, not copied: the same blobs, no new ones, and the draft photo row is gone.
    assert set(await blobs.list_keys()) == keys_before
    async with db.read() as session:
        row = await session.get(ConsultImage, image["id"])
        assert row is not None and row.consult_id == sent["id"]
        assert row.uploaded_by == personas.gp.id
    assert await count(db, DraftImage) == 0
    # The specialist sees the photo the GP checked.
    derm = await client_for(personas.derm)
    assert (await derm.get(f"/api/v1/images/{image['id']}")).status_code == 200
    detail = ok(await gp.get(f"/api/v1/consults/{sent['id']}"))
    assert detail["details"] == {"body_site": "left shoulder", "duration": "3 months",
                                 "lesion_description": "8 mm, two colours"}
    assert detail["patient"]["name"] == PATIENT and detail["question"] == FIELDS["question"]
    # A sent draft is a consult now: it is no longer a draft anyone can open or list.
    assert (await gp.get(f"/api/v1/drafts/{draft_id}")).status_code == 404
    assert ok(await gp.get("/api/v1/drafts"))["drafts"] == []


async def test_send_is_idempotent(client_for: ClientFor, personas: Personas,
                                  db: Database) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    await attach(gp, draft_id, jpeg_photo(2))
    first = await gp.post(f"/api/v1/drafts/{draft_id}/send")
    again = await gp.post(f"/api/v1/drafts/{draft_id}/send")
    keyed = await gp.post(f"/api/v1/drafts/{draft_id}/send",
                          headers={"Idempotency-Key": "retry-of-the-same-click"})
    assert first.status_code == again.status_code == keyed.status_code == 201
    assert first.json()["id"] == again.json()["id"] == keyed.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert first.json()["images"] == again.json()["images"]
    assert await count(db, Consult) == 1 and await count(db, ConsultImage) == 1
    # The Idempotency-Key of a send is honoured for another draft too: one consult.
    other = await new_draft(gp)
    k1 = await gp.post(f"/api/v1/drafts/{other}/send", headers={"Idempotency-Key": "key-12345"})
    k2 = await gp.post(f"/api/v1/drafts/{other}/send", headers={"Idempotency-Key": "key-12345"})
    assert k1.status_code == k2.status_code == 201 and k1.json()["id"] == k2.json()["id"]
    assert await count(db, Consult) == 2
    async with db.read() as session:
        sends = (await session.execute(select(func.count()).select_from(AuditEvent)
                                       .where(col(AuditEvent.action) == "draft.send"))).scalar()
    assert sends == 2


async def test_concurrent_sends_make_one_consult(client_for: ClientFor, personas: Personas,
                                                 db: Database) -> None:
    import asyncio

    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    responses = await asyncio.gather(*(gp.post(f"/api/v1/drafts/{draft_id}/send")
                                       for _ in range(4)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(db, Consult) == 1


async def test_a_draft_that_does_not_validate_is_kept(client_for: ClientFor,
                                                      personas: Personas, db: Database) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp, **{**FIELDS, "question": "short"})
    image = await attach(gp, draft_id, jpeg_photo(3))
    refused = await gp.post(f"/api/v1/drafts/{draft_id}/send")
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "question"
    assert await count(db, Consult) == 0
    kept = ok(await gp.get(f"/api/v1/drafts/{draft_id}"))
    assert kept["fields"]["question"] == "short" and [i["id"] for i in kept["images"]] == [
        image["id"]]
    ok(await gp.put(f"/api/v1/drafts/{draft_id}", json=FIELDS))
    assert ok(await gp.post(f"/api/v1/drafts/{draft_id}/send"), 201)["images"][0]["id"] == (
        image["id"])


async def test_heic_preview_is_a_jpeg_without_metadata(client_for: ClientFor,
                                                        personas: Personas) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    image = await attach(gp, draft_id, ("pug.heic", HEIC.read_bytes(), "image/heic"),
                         label="close_up")
    assert image["width"] == 4032 or image["height"] == 4032
    response = await gp.get(f"/api/v1/drafts/{draft_id}/images/{image['id']}/preview")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "no-store"
    assert response.content[:3] == b"\xff\xd8\xff"
    with Image.open(io.BytesIO(response.content)) as im:
        assert im.format == "JPEG"
        assert max(im.size) <= 512
    # Pixels and at most the photo's own colour profile (kept since issue 16), no EXIF/GPS.
    assert_no_metadata(response.content, "image/jpeg")
    assert b"Exif" not in response.content and b"GPS" not in response.content
    # The whole draft shows it with the slot it was put in.
    assert ok(await gp.get(f"/api/v1/drafts/{draft_id}"))["images"][0]["label"] == "close_up"


async def test_a_png_photo_is_previewed_as_jpeg(client_for: ClientFor,
                                                personas: Personas) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    png = encode(skin_texture(640, 480, seed=4), "PNG")
    image = await attach(gp, draft_id, ("s.png", png, "image/png"))
    response = await gp.get(f"/api/v1/drafts/{draft_id}/images/{image['id']}/preview")
    assert response.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(response.content)) as im:
        assert im.format == "JPEG"


async def test_removing_a_photo_removes_its_blobs(client_for: ClientFor, personas: Personas,
                                                  app: object) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    image = await attach(gp, draft_id, jpeg_photo(5))
    blobs = app_state(app).blobs  # type: ignore[arg-type]
    url = f"/api/v1/drafts/{draft_id}/images/{image['id']}"
    assert (await gp.delete(url)).status_code == 204
    assert (await gp.delete(url)).status_code == 404
    assert not any(k.startswith(str(image["id"])) for k in await blobs.list_keys())
    assert ok(await gp.get(f"/api/v1/drafts/{draft_id}"))["images"] == []


async def test_a_refused_photo_stores_nothing(client_for: ClientFor, personas: Personas,
                                              app: object) -> None:
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    response = await gp.post(f"/api/v1/drafts/{draft_id}/images", data={"label": "overview"},
                             files=[("images", ("x.jpg", b"not an image at all", "image/jpeg"))])
    assert response.status_code in (400, 415), response.text
    bad_label = await gp.post(f"/api/v1/drafts/{draft_id}/images", data={"label": "selfie"},
                              files=[("images", jpeg_photo(6))])
    assert bad_label.status_code == 400
    assert await app_state(app).blobs.list_keys() == []  # type: ignore[arg-type]


async def test_nobody_else_sees_a_draft(client_for: ClientFor, personas: Personas,
                                        db: Database, clock: ManualClock) -> None:
    """Another GP, another GP's delegate, a specialist and staff get 404 for every call,
    exactly like an unknown id; and a GP's list shows none of it."""
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    image = await attach(gp, draft_id, jpeg_photo(7))
    other_delegate = await make_delegate(db, clock, email="olly@clinic.example",
                                         name="Olly Other", gps=(personas.other_gp,))
    strangers: list[User] = [personas.other_gp, other_delegate, personas.derm, personas.staff]
    for user in strangers:
        client = await client_for(user)
        base = f"/api/v1/drafts/{draft_id}"
        calls = [
            await client.get(base), await client.put(base, json={"question": "mine now"}),
            await client.post(f"{base}/send"),
            await client.get(f"{base}/images/{image['id']}/preview"),
            await client.post(f"{base}/images", data={"label": "other"},
                              files=[("images", jpeg_photo(8))]),
            await client.delete(f"{base}/images/{image['id']}"),
            await client.delete(base),
        ]
        assert [c.status_code for c in calls] == [404] * len(calls), (user.email, calls)
        listed = await client.get("/api/v1/drafts")
        assert listed.status_code == 200 and listed.json()["drafts"] == []
    unknown = await gp.get("/api/v1/drafts/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404 and (await gp.get("/api/v1/drafts/nope")).status_code == 404
    assert ok(await gp.get(f"/api/v1/drafts/{draft_id}"))["fields"]["question"] == (
        FIELDS["question"])
    assert await count(db, Consult) == 0


async def test_a_delegates_draft_is_theirs_and_their_gps(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock) -> None:
    dee = await make_delegate(db, clock, email="dee@clinic.example", name="Dee Lewis",
                              gps=(personas.gp,))
    colleague = await make_delegate(db, clock, email="cole@clinic.example", name="Cole Ague",
                                    gps=(personas.gp,))
    me = await client_for(dee)
    draft_id = await new_draft(me, **{**FIELDS, "gp": personas.gp.email})
    bad_gp = await me.put(f"/api/v1/drafts/{draft_id}",
                          json={**FIELDS, "gp": personas.other_gp.email})
    assert bad_gp.status_code == 400 and bad_gp.json()["error"]["field"] == "gp"
    # Another delegate of the same GP does not see it; the GP does, and may send it.
    cole = await client_for(colleague)
    assert (await cole.get(f"/api/v1/drafts/{draft_id}")).status_code == 404
    gp = await client_for(personas.gp)
    [listed] = ok(await gp.get("/api/v1/drafts"))["drafts"]
    assert listed["id"] == draft_id and listed["author"]["name"] == "Dee Lewis"
    other_gp = await client_for(personas.other_gp)
    assert ok(await other_gp.get("/api/v1/drafts"))["drafts"] == []
    sent = ok(await me.post(f"/api/v1/drafts/{draft_id}/send"), 201)
    async with db.read() as session:
        consult = await session.get(Consult, sent["id"])
        assert consult is not None and consult.gp_id == personas.gp.id
        assert consult.submitted_by == dee.id
    # The GP's second send of the same draft is the same consult.
    assert ok(await gp.post(f"/api/v1/drafts/{draft_id}/send"), 201)["id"] == sent["id"]
    assert await count(db, Consult) == 1


async def test_expired_drafts_go_with_their_blobs(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock,
        app: object, settings: Settings) -> None:
    gp = await client_for(personas.gp)
    old = await new_draft(gp)
    old_image = await attach(gp, old, jpeg_photo(9))
    clock.advance(timedelta(days=settings.draft_days - 1))
    gp = await client_for(personas.gp)  # a new day, a new session
    fresh = await new_draft(gp)
    fresh_image = await attach(gp, fresh, jpeg_photo(10))
    clock.advance(timedelta(days=1, minutes=1))
    gp = await client_for(personas.gp)
    state = app_state(app)  # type: ignore[arg-type]
    assert await drafts.remove_expired(state) == 1
    keys = set(await state.blobs.list_keys())
    assert not any(k.startswith(str(old_image["id"])) for k in keys)
    assert f"{fresh_image['id']}.original" in keys
    async with db.read() as session:
        assert await session.get(Draft, old) is None
        assert await session.get(DraftImage, str(old_image["id"])) is None
    assert [d["id"] for d in ok(await gp.get("/api/v1/drafts"))["drafts"]] == [fresh]


async def test_gc_keeps_live_draft_photos_and_removes_expired_drafts(
        client_for: ClientFor, personas: Personas, clock: ManualClock, settings: Settings,
        db: Database) -> None:
    gp = await client_for(personas.gp)
    live = await new_draft(gp)
    live_image = await attach(gp, live, jpeg_photo(11))
    report = await integrity.gc(settings, min_age_seconds=0, clock=clock)
    assert report.removed == [] and report.expired_drafts == 0
    blobs = blob_store_for(settings)
    assert f"{live_image['id']}.original" in await blobs.list_keys()
    later = ManualClock(clock.now() + timedelta(days=settings.draft_days + 1))
    report = await integrity.gc(settings, min_age_seconds=0, clock=later)
    assert report.expired_drafts == 1
    assert await blobs.list_keys() == []
    async with db.read() as session:
        assert (await session.execute(select(func.count()).select_from(Draft))).scalar() == 0


async def test_the_scheduler_sweeps_expired_drafts(
        client_for: ClientFor, personas: Personas, clock: ManualClock, app: object,
        settings: Settings) -> None:
    from econsult.consults.scheduler import DeadlineScheduler

    gp = await client_for(personas.gp)
    await new_draft(gp)
    clock.advance(timedelta(days=settings.draft_days, seconds=1))
    state = app_state(app)  # type: ignore[arg-type]
    await DeadlineScheduler(max_sleep=60).run_once(state)
    gp = await client_for(personas.gp)
    assert ok(await gp.get("/api/v1/drafts"))["drafts"] == []


async def test_only_people_who_write_consults_start_drafts(client_for: ClientFor,
                                                           personas: Personas) -> None:
    for user in (personas.derm, personas.staff, personas.admin):
        client = await client_for(user)
        assert (await client.post("/api/v1/drafts", json={})).status_code == 404
    anon_like = await client_for(personas.gp)
    anon_like.cookies.clear()
    assert (await anon_like.post("/api/v1/drafts", json={})).status_code == 401
    assert (await anon_like.get("/api/v1/drafts")).status_code == 401


async def test_openapi_describes_the_drafts(client_for: ClientFor, personas: Personas) -> None:
    gp = await client_for(personas.gp)
    schema = ok(await gp.get("/api/v1/openapi.json"))
    paths = schema["paths"]
    for path, method in [("/drafts", "post"), ("/drafts", "get"), ("/drafts/{id}", "get"),
                         ("/drafts/{id}", "put"), ("/drafts/{id}", "delete"),
                         ("/drafts/{id}/send", "post"), ("/drafts/{id}/images", "post"),
                         ("/drafts/{id}/images/{image_id}", "delete"),
                         ("/drafts/{id}/images/{image_id}/preview", "get")]:
        op = paths[path][method]
        assert op["summary"] and "404" in op["responses"] or "401" in op["responses"], path
        assert any(code.startswith("4") for code in op["responses"]), (path, method)


async def test_a_backup_keeps_the_photos_of_drafts(
        client_for: ClientFor, personas: Personas, settings: Settings, tmp_path: Path) -> None:
    from econsult.ops import backup

    if not settings.is_sqlite:
        pytest.skip("backup copies SQLite (PostgreSQL: pg_dump)")
    gp = await client_for(personas.gp)
    draft_id = await new_draft(gp)
    image = await attach(gp, draft_id, jpeg_photo(12))
    report = await backup.backup(settings, tmp_path / "bk")
    assert report.blobs == 2
    copied = {p.name for p in (tmp_path / "bk" / backup.BLOBS).rglob("*") if p.is_file()}
    assert any(str(image["id"]) in name for name in copied), copied


async def test_a_draft_keeps_the_checklist_and_sends_pdfs_with_the_send(
        client_for: ClientFor, personas: Personas, db: Database, clock: ManualClock) -> None:
    """The clinical fields (issue 16) live in the draft like any other; a PDF, which a
    draft does not keep, goes with the send and is refused there like at POST /consults."""
    import json

    from tests.images.pdf_factories import benign

    await put_on_call(db, personas.cardio, "cardiology", clock.now())
    gp = await client_for(personas.gp)
    answers = {"episode_frequency": "weekly", "syncope": "no", "tsh": "2.1",
               "ecg_attached": "true", "episode_duration": "Minutes, abrupt onset"}
    fields = {**{k: v for k, v in FIELDS.items() if k not in ("duration",
                                                              "lesion_description")},
              "specialty": "cardiology", "reason": "palpitations",
              "checklist": json.dumps(answers), "patient_sex": "female",
              "medications": "Salbutamol PRN", "allergies": "Penicillin (rash)"}
    draft_id = await new_draft(gp, **fields)
    assert ok(await gp.get(f"/api/v1/drafts/{draft_id}"))["fields"]["reason"] == "palpitations"
    refused = await gp.post(f"/api/v1/drafts/{draft_id}/send",
                            files=[("attachments", ("labs.pdf", b"not a pdf", "application/pdf"))])
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "attachments"
    assert await count(db, Consult) == 0  # nothing half written; the draft is kept
    sent = ok(await gp.post(f"/api/v1/drafts/{draft_id}/send",
                            files=[("attachments", ("labs.pdf", benign(), "application/pdf"))]),
              201)
    [document] = sent["attachments"]
    assert document["filename"] == "labs.pdf"
    detail = ok(await gp.get(f"/api/v1/consults/{sent['id']}"))
    assert detail["reason"] == "palpitations" and detail["allergies"] == "Penicillin (rash)"
    assert detail["checklist"]["version"] >= 1
    assert [a["id"] for a in detail["attachments"]] == [document["id"]]
