"""The consult letter (GET /api/v1/consults/{id}/letter.pdf), read back from the PDF
file with pikepdf (tests/interop/pdf_text.py): what it says, who may have it."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from econsult.clock import ManualClock
from econsult.db import Database
from econsult.interop.letter_pdf import render_pdf
from econsult.models import AuditEvent
from tests.conftest import ClientFor
from tests.factories import Personas, ok, put_on_call, submit
from tests.fhir.helpers import photo
from tests.interop.pdf_text import image_count, pdf_pages

QUESTION = "Pigmented lesion <b>on the left shoulder</b>, changed over 3 months. Biopsy?"
ANSWER = "Dermoscopy shows a regular network: benign naevus. No biopsy; re-photograph in 3 months."


@pytest.fixture
async def answered(db: Database, personas: Personas, client_for: ClientFor,
                   clock: ManualClock) -> str:
    await put_on_call(db, personas.derm, "dermatology", clock.now())
    gp, derm = await client_for(personas.gp), await client_for(personas.derm)
    created = ok(await submit(gp, files=[
        ("images", ("overview.jpg", photo(1), "image/jpeg")),
        ("images", ("dermoscopy.jpg", photo(2), "image/jpeg"))],
        image_labels="overview", question=QUESTION), 201)
    cid = str(created["id"])
    clock.advance(timedelta(minutes=3))
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    clock.advance(timedelta(minutes=3))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "answer", "body": ANSWER, "minutes": 10}), 201)
    return cid


async def test_the_letter_has_the_question_answer_specialist_and_photos(
        answered: str, personas: Personas, client_for: ClientFor, db: Database) -> None:
    gp = await client_for(personas.gp)
    response = await gp.get(f"/api/v1/consults/{answered}/letter.pdf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["cache-control"] == "no-store"
    assert "attachment" in response.headers["content-disposition"]
    pages = pdf_pages(response.content)
    text = " ".join(" ".join(pages).split())
    assert QUESTION in text  # as typed: the markup is text, not markup
    assert ANSWER in text
    assert personas.derm.name in text and personas.gp.name in text
    assert "Jane Example" in text and "1970-05-04" in text and "9876 543 210" in text
    assert "Timeline" in text and "acknowledged" in text
    assert image_count(response.content) == 2
    for n, page in enumerate(pages, start=1):
        assert f"Page {n} of {len(pages)}" in page
        assert "CONFIDENTIAL" in page
    # The specialist on the consult may have it too, and every letter is audited.
    derm = await client_for(personas.derm)
    assert (await derm.get(f"/api/v1/consults/{answered}/letter.pdf")).status_code == 200
    async with db.read() as session:
        rows = list((await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "consult.letter"))).scalars())
    assert [(r.actor_id, r.object_id) for r in rows] == [(personas.gp.id, answered),
                                                         (personas.derm.id, answered)]


@pytest.mark.parametrize("who", ["staff", "other_gp", "cardio", "admin"])
async def test_nobody_else_gets_the_letter(answered: str, personas: Personas,
                                           client_for: ClientFor, who: str) -> None:
    client = await client_for(getattr(personas, who))
    response = await client.get(f"/api/v1/consults/{answered}/letter.pdf")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_the_thread_page_offers_the_letter_to_the_clinicians_only(
        answered: str, personas: Personas, client_for: ClientFor) -> None:
    link = f'href="/api/v1/consults/{answered}/letter.pdf"'
    for who, offered in (("gp", True), ("derm", True), ("staff", False)):
        page = await (await client_for(getattr(personas, who))).get(f"/consults/{answered}")
        assert page.status_code == 200
        assert (link in page.text) is offered, who


def test_rendering_leaves_pillow_refusing_truncated_images() -> None:
    """WeasyPrint turns on LOAD_TRUNCATED_IMAGES when imported; the photo pipeline shares
    the worker processes and must go on refusing truncated uploads."""
    from PIL import ImageFile

    render_pdf("<p>x</p>")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


async def test_the_letter_renderer_fetches_nothing(anon: httpx.AsyncClient) -> None:
    html = ('<html><body><p>x</p><img src="file:///etc/passwd">'
            '<img src="http://169.254.169.254/latest"><link rel="stylesheet" '
            'href="file:///etc/hostname"></body></html>')
    pdf = render_pdf(html)
    assert image_count(pdf) == 0
    assert re.search(rb"%PDF-\d", pdf[:10])
