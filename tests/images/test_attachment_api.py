"""PDF attachments through the JSON API, from the attacker's side: hostile PDFs are
stored without what can act, refused ones change nothing, and a stored PDF leaves only
as an audited download to the people on the consult."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pikepdf
import pytest
from pikepdf import Array, Dictionary, Name, String
from sqlalchemy import func, select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.config import Settings
from econsult.db import Database
from econsult.http.state import app_state
from econsult.images.store import FilesystemBlobStore
from econsult.models import AuditEvent, Consult, ConsultAttachment
from econsult.ops import backup, integrity, rekey
from econsult.security.keyring import Kek, Keyring, new_key
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, ok
from tests.images.pdf_factories import (
    PAYLOAD,
    benign,
    file_spec,
    many_pages,
    report,
    saved,
    script,
)

PDF = "application/pdf"


def with_javascript(pdf: pikepdf.Pdf) -> None:
    pdf.Root.OpenAction = script(pdf)
    pdf.Root.Names = Dictionary(JavaScript=Dictionary(Names=Array([String("x"), script(pdf)])))
    pdf.pages[0].obj.AA = Dictionary(O=script(pdf))


def with_embedded_file(pdf: pikepdf.Pdf) -> None:
    spec = pdf.make_indirect(file_spec(pdf))
    pdf.Root.Names = Dictionary(EmbeddedFiles=Dictionary(Names=Array([String("evil.exe"),
                                                                      spec])))
    pdf.Root.OpenAction = pdf.make_indirect(Dictionary(S=Name.Launch, F=spec))


def plain(change: Callable[[pikepdf.Pdf], None]) -> bytes:
    """The benign report with `change`, streams left uncompressed so the markers are
    visible in the bytes (and their absence after sanitising means something)."""
    pdf = report()
    change(pdf)
    return saved(pdf, compress_streams=False,
                 object_stream_mode=pikepdf.ObjectStreamMode.disable)


def encrypted() -> bytes:
    return saved(pikepdf.open(io.BytesIO(benign())),
                 encryption=pikepdf.Encryption(user="secret", owner="owner", R=6))


def has_active_content(data: bytes) -> list[str]:
    found = []
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for obj in [*pdf.objects, pdf.trailer]:
            if isinstance(obj, Dictionary | pikepdf.Stream):
                for key in ("/JavaScript", "/JS", "/OpenAction", "/AA", "/EmbeddedFiles",
                            "/EF", "/Launch"):
                    if key in obj:
                        found.append(key)
                if obj.get("/S") in (Name.JavaScript, Name.Launch):
                    found.append(str(obj.get("/S")))
    return found


async def row_counts(db: Database) -> tuple[int, int]:
    async with db.read() as session:
        consults = (await session.execute(select(func.count()).select_from(Consult))).scalar()
        pdfs = (await session.execute(
            select(func.count()).select_from(ConsultAttachment))).scalar()
    return int(consults or 0), int(pdfs or 0)


async def downloads(db: Database, attachment_id: str) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = (await session.execute(
            select(col(AuditEvent.actor_email), col(AuditEvent.outcome))
            .where(col(AuditEvent.action) == "attachment.download",
                   col(AuditEvent.object_id) == attachment_id)
            .order_by(col(AuditEvent.id)))).all()
    return [(r[0], r[1]) for r in rows]


def blob_files(settings: Settings) -> list[Path]:
    return [p for p in settings.blob_dir.rglob("*") if p.is_file()]


async def send(client: httpx.AsyncClient, *documents: tuple[str, bytes]) -> httpx.Response:
    files = [("attachments", (name, data, PDF)) for name, data in documents]
    return await client.post("/api/v1/consults", data=FORM, files=files)


@pytest.fixture
async def consult(rota: None, personas: Personas, client_for: ClientFor) -> dict[str, Any]:
    gp = await client_for(personas.gp)
    created: dict[str, Any] = ok(await send(
        gp, ("Potassium Jane Example.pdf", plain(with_javascript)),
        ("letter.pdf", plain(with_embedded_file))), 201)
    return created


async def test_hostile_pdfs_are_stored_without_script_actions_or_embedded_files(
    consult: dict[str, Any], personas: Personas, client_for: ClientFor, db: Database,
    settings: Settings,
) -> None:
    script_pdf, embedded = consult["attachments"]
    assert b"MARK-SCRIPT" in plain(with_javascript) and PAYLOAD in plain(with_embedded_file)
    assert script_pdf["pages"] == 3 and script_pdf["filename"] == "Potassium Jane Example.pdf"
    assert "JavaScript" in script_pdf["removed"]
    assert "embedded file" in embedded["removed"]

    derm = await client_for(personas.derm)  # the specialist it was routed to
    for item in (script_pdf, embedded):
        r = await derm.get(f"/api/v1/attachments/{item['id']}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == PDF
        assert r.headers["content-disposition"].startswith("attachment;")
        assert r.headers["content-security-policy"].startswith("sandbox")
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert has_active_content(r.content) == []
        assert b"MARK-SCRIPT" not in r.content and PAYLOAD not in r.content
        with pikepdf.open(io.BytesIO(r.content)) as pdf:
            assert len(pdf.pages) == 3
            assert "/EmbeddedFiles" not in pdf.Root.get("/Names", Dictionary())
    first = await derm.get(f"/api/v1/attachments/{script_pdf['id']}")
    assert 'filename="Potassium Jane Example.pdf"' in first.headers["content-disposition"]
    assert await downloads(db, script_pdf["id"]) == [("derm1@example.org", "ok")] * 2

    # The thread lists them with their page counts; the stored bytes are ciphertext.
    detail = ok(await derm.get(f"/api/v1/consults/{consult['id']}"))
    assert [(a["id"], a["pages"]) for a in detail["attachments"]] == [
        (script_pdf["id"], 3), (embedded["id"], 3)]
    stored = blob_files(settings)
    assert len(stored) == 2
    for path in stored:
        data = path.read_bytes()
        assert b"%PDF" not in data and b"MARK-SCRIPT" not in data and PAYLOAD not in data
    page = await derm.get(f"/consults/{consult['id']}")
    assert f"/api/v1/attachments/{script_pdf['id']}" in page.text and "3 pages" in page.text


async def test_only_people_who_may_view_the_consult_download_it(
    consult: dict[str, Any], personas: Personas, client_for: ClientFor, anon: httpx.AsyncClient,
    db: Database,
) -> None:
    attachment_id = consult["attachments"][0]["id"]
    for who in ("other_gp", "derm2", "cardio", "staff", "admin"):
        client = await client_for(getattr(personas, who))
        r = await client.get(f"/api/v1/attachments/{attachment_id}")
        assert r.status_code == 404, (who, r.text)
        assert r.json()["error"]["code"] == "not_found"
        detail = await client.get(f"/api/v1/consults/{consult['id']}")
        assert "attachments" not in (detail.json() if detail.status_code == 200 else {})
    gp = await client_for(personas.gp)
    image_id_like = consult["id"]  # a real id of something else
    for unknown in (str(uuid.uuid4()), "not-a-uuid", attachment_id.upper(), image_id_like):
        assert (await gp.get(f"/api/v1/attachments/{unknown}")).status_code == 404
    assert (await anon.get(f"/api/v1/attachments/{attachment_id}")).status_code == 401
    assert await downloads(db, attachment_id) == []
    assert (await gp.get(f"/api/v1/attachments/{attachment_id}")).status_code == 200
    assert await downloads(db, attachment_id) == [("gp@example.org", "ok")]


@pytest.mark.parametrize(("name", "data", "code", "words"), [
    ("locked.pdf", None, "encrypted", "protected with a password"),
    ("huge.pdf", many_pages(10_000), "too_many_pages", "10,000 pages"),
    ("photo.pdf", b"\xff\xd8\xff\xe0" + b"\x00" * 200, "not_pdf", "not a PDF"),
    ("notes.txt", b"Potassium 4.1, sodium 140\n", "not_pdf", "not a PDF"),
    ("page.pdf", b"<html><body>%PDF-1.7</body></html>\n%%EOF", "suspicious_content",
     "web page"),
])
async def test_refused_pdfs_answer_400_and_change_nothing(
    rota: None, personas: Personas, client_for: ClientFor, db: Database, settings: Settings,
    name: str, data: bytes | None, code: str, words: str,
) -> None:
    gp = await client_for(personas.gp)
    before = await row_counts(db)
    r = await send(gp, ("ok.pdf", benign()), (name, data if data is not None else encrypted()))
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["field"] == "attachments"
    assert error["message"].startswith(f"Attachment 2 ({name})") and words in error["message"]
    assert await row_counts(db) == before
    assert blob_files(settings) == []  # the first, accepted PDF was not kept either


async def test_size_count_and_field_caps(
    rota: None, personas: Personas, client_for: ClientFor, app: Starlette, db: Database,
) -> None:
    gp = await client_for(personas.gp)
    cap = app_state(app).settings.max_attachment_bytes
    padded = benign()[:-6] + b" " * (cap + 10) + b"%%EOF\n"
    r = await send(gp, ("big.pdf", padded))
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_large"
    r = await send(gp, *[(f"{i}.pdf", benign(1)) for i in range(6)])
    assert r.status_code == 400 and "at most 5" in r.json()["error"]["message"]
    r = await gp.post("/api/v1/consults", data=FORM,
                      files=[("documents", ("x.pdf", benign(1), PDF))])
    assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_file_field"
    assert await row_counts(db) == (0, 0)


async def test_a_reply_carries_a_pdf_and_rotation_gc_and_verify_keep_it(
    consult: dict[str, Any], personas: Personas, client_for: ClientFor, app: Starlette,
    db: Database, settings: Settings, tmp_path: Path,
) -> None:
    derm = await client_for(personas.derm)
    ok(await derm.post(f"/api/v1/consults/{consult['id']}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{consult['id']}/messages",
                       json={"body": "Please send the ECG.", "kind": "clarification_request"}),
       201)
    gp = await client_for(personas.gp)
    sent = ok(await gp.post(f"/api/v1/consults/{consult['id']}/messages",
                            data={"body": "ECG attached.", "kind": "message"},
                            files=[("attachments", ("ecg.pdf", benign(2), PDF))]), 201)
    (ecg,) = sent["attachments"]
    assert ecg["pages"] == 2
    detail = ok(await derm.get(f"/api/v1/consults/{consult['id']}"))
    assert detail["messages"][-1]["attachments"][0]["id"] == ecg["id"]

    svc = app_state(app)
    store = FilesystemBlobStore(settings.blob_dir)
    report = await integrity.collect_garbage(db, store, min_age_seconds=0)
    assert report.removed == []  # attachment blobs have rows: never orphans
    verified = await integrity.verify_with(db, svc.keyring, store)
    assert verified.ok and (verified.images, verified.attachments) == (0, 3)

    old = svc.keyring.active_id
    svc.keyring.replace_with(Keyring(Kek.from_bytes(new_key()),
                                     [svc.keyring.get(k) for k in svc.keyring.ids]))
    await rekey.rekey_images(db, svc.keyring, settings, blobs=store)
    assert await rekey.count_images(db, old, settings) == 0
    r = await derm.get(f"/api/v1/attachments/{ecg['id']}")
    assert r.status_code == 200 and r.content.startswith(b"%PDF")

    if settings.is_sqlite:  # `econsult backup` copies the attachments' blobs too
        made = await backup.backup(settings, tmp_path / "backup")
        keys = set(json.loads((tmp_path / "backup" / "manifest.json").read_text())["blobs"])
        assert f"{ecg['id']}.attachment" in keys and made.blobs == 3


async def test_openapi_describes_attachments(anon: httpx.AsyncClient) -> None:
    schema = ok(await anon.get("/api/v1/openapi.json"))
    paths = schema["paths"]
    download = paths["/attachments/{id}"]["get"]
    assert "application/pdf" in download["responses"]["200"]["content"]
    assert {p["name"] for p in download["parameters"]} == {"id"}
    form = paths["/consults"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert "attachments" in form["schema"]["properties"]
    message = paths["/consults/{id}/messages"]["post"]["requestBody"]["content"]
    assert "attachments" in message["multipart/form-data"]["schema"]["properties"]
    assert "photos" in str(paths["/images/{id}/earlier"]["get"]["responses"]["200"])
