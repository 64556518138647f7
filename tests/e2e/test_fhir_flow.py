"""An EMR's consult, end to end: a registered client gets a token and sends a
transaction Bundle to a real server; the on-call dermatologist sees it arrive in the
browser queue, answers it on the page and downloads the letter; the client then reads
the Task as completed and the answer as a Communication. Everything read validates."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from econsult.clock import SystemClock
from econsult.db import Database
from tests.e2e.conftest import Site, in_thread
from tests.e2e.test_consult_flow import live, login
from tests.fhir.helpers import (
    FHIR_JSON,
    Registered,
    assertion,
    bearer,
    photo,
    register,
    token_form,
    transaction_bundle,
    validate,
)

pytestmark = pytest.mark.e2e


async def _register(site: Site) -> Registered:
    db = Database.from_settings(site.settings)
    try:
        return await register(db, SystemClock(), [site.personas.gp])
    finally:
        await db.dispose()


def test_an_emr_consult_is_answered_in_the_browser_and_read_back(
        browser: Any, site: Site, artifacts: Path) -> None:
    client = in_thread(lambda: asyncio.run(_register(site)))
    url = site.server.url
    derm = login(browser, site, site.personas.derm.email)
    derm.goto(f"{url}/queue")
    live(derm)

    with httpx.Client(base_url=url) as emr:
        granted = emr.post("/oauth/token", data=token_form(assertion(
            client, datetime.now(UTC), aud=f"{url}/oauth/token")))
        assert granted.status_code == 200, granted.text
        emr.headers.update(bearer(granted.json()["access_token"]))
        sent = emr.post("/fhir", json=transaction_bundle(
            site.personas.gp, photos=[(photo(1), "overview"), (photo(2), "dermoscopy")]),
            headers={"Content-Type": FHIR_JSON})
        assert sent.status_code == 200, sent.text
        validate(sent.json())
        cid = sent.json()["entry"][1]["response"]["location"].split("/")[1]

        # The specialist on call sees it arrive, live, and works it on the page.
        row = derm.locator(f'li.qrow[data-id="{cid}"]')
        expect(row).to_be_visible(timeout=3000)
        expect(row.locator(".patient")).to_have_text("Jane Doe", timeout=3000)
        derm.click(f'li.qrow[data-id="{cid}"] a')
        live(derm)
        expect(derm.locator(".thumb")).to_have_count(2)
        derm.click("#ack-form button")
        expect(derm.locator("#state-badge")).to_have_text("In review")
        derm.select_option("#message-kind", "answer")
        derm.fill("#message-body", "Benign seborrhoeic keratosis; no excision needed.")
        derm.fill("#minutes", "9")
        derm.click("#message-form button[type=submit]")
        expect(derm.locator("#state-badge")).to_have_text("Answered", timeout=3000)
        with derm.expect_download() as download:
            derm.click("#letter-download")
        assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")
        derm.screenshot(path=str(artifacts / "thread-from-emr.png"), full_page=True)

        task = emr.get(f"/fhir/Task/{cid}").json()
        validate(task)
        assert task["status"] == "completed"
        assert task["owner"] == {"reference": f"PractitionerRole/{site.personas.derm.id}"}
        found = emr.get("/fhir/Communication", params={
            "based-on": f"ServiceRequest/{cid}", "category": "answer"}).json()
        validate(found)
        answers = [e["resource"] for e in found["entry"]]
        assert [a["payload"][0]["contentString"] for a in answers] == [
            "Benign seborrhoeic keratosis; no excision needed."]
        output = {o["type"]["coding"][0]["code"]: o for o in task["output"]}
        answer_ref = output["answer"]["valueReference"]["reference"]
        assert answer_ref == f"Communication/{answers[0]['id']}"
        for path in (f"/fhir/ServiceRequest/{cid}", f"/fhir/Patient/{cid}",
                     f"/fhir/DocumentReference?related=ServiceRequest/{cid}",
                     f"/fhir/PractitionerRole/{site.personas.derm.id}", "/fhir/metadata"):
            response = emr.get(path)
            assert response.status_code == 200, (path, response.text)
            validate(response.json())
