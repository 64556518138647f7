"""A cardiology consult for palpitations in a real browser: the GP answers its workup
checklist (a required item left blank is caught before sending), the specialist reads
the answers and writes a structured, signed answer, and the GP reads it as such."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update
from sqlmodel import col

from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.db import Database
from econsult.models import User
from tests.conftest import free_port
from tests.e2e.conftest import Server, Site, in_thread
from tests.e2e.test_consult_flow import login
from tests.factories import Personas, make_personas, put_on_call

pytestmark = pytest.mark.e2e


async def _seed(settings: Settings) -> Personas:
    db = Database.from_settings(settings)
    try:
        personas = await make_personas(db, SystemClock())
        await put_on_call(db, personas.cardio, "cardiology", datetime.now(UTC), hours=24)
        async with db.write() as session:
            await session.execute(update(User).where(col(User.id) == personas.cardio.id)
                                  .values(credentials="MD, FRCPC", registration="CPSBC 12345"))
        return personas
    finally:
        await db.dispose()


@pytest.fixture
def cardiology_site(settings: Settings) -> Iterator[Site]:
    personas = in_thread(lambda: asyncio.run(_seed(settings)))
    server = Server(settings, free_port())
    server.start()
    yield Site(server, settings, personas)
    server.stop()


def item(name: str) -> str:
    return f'[id="checklist.{name}"]'


def test_a_palpitations_consult_with_its_checklist_and_a_signed_structured_answer(
        browser: Any, cardiology_site: Site, artifacts: Path) -> None:
    site, p = cardiology_site, cardiology_site.personas
    gp: Page = login(browser, site, p.gp.email)
    gp.goto(f"{site.server.url}/consults/new")
    gp.select_option("#specialty", "cardiology")
    expect(gp.locator('#reason option[value="palpitations"]')).to_be_attached(timeout=5000)
    expect(gp.locator(f'#specialist option[value="{p.cardio.email}"]')).to_be_attached()
    gp.select_option("#reason", "palpitations")
    expect(gp.locator(item("episode_frequency"))).to_be_visible()
    expect(gp.locator("#checklist-items")).to_contain_text("required")
    expect(gp.locator("#checklist-items")).to_contain_text("recommended")
    expect(gp.locator("#checklist-items")).to_contain_text("Within the last 3 months.")  # hint
    gp.fill("#patient_name", "Pat Palpitations")
    gp.fill("#patient_dob", "1979-02-11")
    gp.fill("#patient_health_number", "9123 456 700")
    gp.fill("#question", "Weekly palpitations for two months. Holter, or refer?")
    gp.select_option("#patient_sex", "female")
    gp.fill("#medications", "Salbutamol inhaler as needed")
    gp.fill("#allergies", "Penicillin (rash)")
    gp.select_option(item("episode_frequency"), "weekly")
    gp.fill(item("tsh"), "2.1")
    gp.select_option("#specialist", p.cardio.email)
    gp.click("#submit-consult")
    # Syncope is required: caught in the page, nothing sent.
    expect(gp.locator('[id="err-checklist.syncope"]')).to_contain_text("is required")
    expect(gp.locator("#consult-sent")).to_be_hidden()
    gp.select_option(item("syncope"), "false")
    gp.screenshot(path=str(artifacts / "clinical-checklist-form.png"), full_page=True)
    gp.click("#submit-consult")
    expect(gp.locator("#consult-sent")).to_be_visible(timeout=10_000)
    expect(gp.locator("#sent-to")).to_contain_text(p.cardio.name)
    link = gp.locator("#sent-link").get_attribute("href")
    assert link is not None

    cardio = login(browser, site, p.cardio.email)
    cardio.goto(f"{site.server.url}{link}")
    summary = cardio.locator("#checklist-summary")
    expect(summary).to_contain_text("Workup: Palpitations (checklist version 1)")
    expect(summary).to_contain_text("How often episodes occur: Weekly")
    expect(summary).to_contain_text("Syncope or near-syncope with episodes: No")
    expect(summary).to_contain_text("Recent TSH: 2.1 mIU/L")
    expect(summary).to_contain_text("Not provided: Hemoglobin (CBC) (recommended)")
    expect(cardio.locator("#clinical-summary")).to_contain_text("Penicillin (rash)")
    cardio.click("#ack-form button")
    expect(cardio.locator("#message-kind option[value=answer]")).to_be_enabled(timeout=5000)
    # A saved template of the specialist's own fills the answer's parts.
    status = cardio.evaluate("""async () => (await fetch("/api/v1/answer-templates", {
        method: "POST", headers: {"Content-Type": "application/json",
                                  "X-CSRF-Token": document.body.dataset.csrf},
        body: JSON.stringify({title: "Benign ectopy", impression: "Benign ectopy.",
                              follow_up: "Review in 4 weeks."})})).status""")
    assert status == 201
    cardio.reload()
    expect(cardio.locator("#answer-template option", has_text="Benign ectopy")).to_be_attached(
        timeout=5000)
    cardio.select_option("#message-kind", "answer")
    expect(cardio.locator("#answer-fields")).to_be_visible()
    cardio.select_option("#answer-template", label="Benign ectopy")
    expect(cardio.locator("#impression")).to_have_value("Benign ectopy.")
    expect(cardio.locator("#follow_up")).to_have_value("Review in 4 weeks.")
    cardio.fill("#message-body", "Most likely benign ectopy; a monitor will settle it.")
    cardio.fill("#impression", "Symptomatic ectopy without red flags.")
    cardio.fill("#plan", "14-day patch monitor; reduce caffeine.")
    cardio.fill("#refer_if", "Syncope, exertional palpitations or sustained episodes.")
    cardio.fill("#follow_up", "Review the monitor in 4 weeks.")
    cardio.fill("#minutes", "20")
    cardio.click("#message-form button[type=submit]")
    letter = cardio.locator("#messages .answer-letter")
    expect(letter).to_contain_text("Dr Carla Dio, MD, FRCPC · Registration CPSBC 12345",
                                   timeout=10_000)
    cardio.screenshot(path=str(artifacts / "clinical-specialist-answer.png"), full_page=True)

    gp.goto(f"{site.server.url}{link}")
    block = gp.locator("#messages .answer-letter")
    expect(block).to_contain_text("Impression")
    expect(block).to_contain_text("Symptomatic ectopy without red flags.")
    expect(block).to_contain_text("Recommendation / plan")
    expect(block).to_contain_text("14-day patch monitor; reduce caffeine.")
    expect(block).to_contain_text("Refer or act sooner if")
    expect(block).to_contain_text("A face-to-face referral is not needed now.")
    expect(block).to_contain_text("Dr Carla Dio, MD, FRCPC · Registration CPSBC 12345")
    expect(gp.locator("#state-badge")).to_have_text("Answered")
    gp.screenshot(path=str(artifacts / "clinical-gp-reads-answer.png"), full_page=True)


def test_staff_edit_a_checklist_with_a_live_preview_and_save_a_new_version(
        browser: Any, cardiology_site: Site, artifacts: Path) -> None:
    site = cardiology_site
    staff = login(browser, site, site.personas.staff.email)
    expect(staff.locator('nav a[href="/checklists"], a[href="/checklists"]').first).to_be_visible()
    staff.goto(f"{site.server.url}/checklists")
    staff.select_option("#cl-specialty", "cardiology")
    expect(staff.locator('#cl-reason option[value="palpitations"]')).to_be_attached(timeout=5000)
    staff.select_option("#cl-reason", "palpitations")
    expect(staff.locator("#cl-version")).to_have_text("Current version: 1")
    preview = staff.locator("#cl-preview")
    expect(preview).to_contain_text("How often episodes occur")
    edited = staff.locator("#cl-schema").input_value().replace(
        '"title": "Recent TSH"', '"title": "TSH in the last 3 months"')
    staff.fill("#cl-schema", edited)
    expect(preview).to_contain_text("TSH in the last 3 months")  # live, before saving
    staff.fill("#cl-schema", edited.replace("{", "", 1))
    expect(staff.locator("#cl-error")).to_contain_text("Not valid JSON")
    staff.fill("#cl-schema", edited)
    staff.click("#cl-save")
    expect(staff.locator("#cl-version")).to_contain_text("Saved version 2", timeout=5000)
    expect(staff.locator("#cl-versions")).to_contain_text("Version 1")
    staff.screenshot(path=str(artifacts / "clinical-checklist-editor.png"), full_page=True)
