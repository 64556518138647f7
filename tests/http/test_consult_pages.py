"""The consult pages: each persona sees their page, others get 404 or the login page,
and decrypted content reaches only the people allowed to see it."""

from __future__ import annotations

import re

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent
from tests.conftest import ClientFor
from tests.factories import FORM, Personas, ok, submit

QUESTION = FORM["question"]
PATIENT = FORM["patient_name"]


def _scripts(html: str) -> list[str]:
    return re.findall(r"<script[^>]*>", html)


@pytest.mark.parametrize("path", ["/consults/new", "/consults", "/queue",
                                  "/consults/00000000-0000-4000-8000-000000000000"])
async def test_pages_redirect_to_login_without_a_session(anon: httpx.AsyncClient,
                                                         path: str) -> None:
    r = await anon.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=")


async def test_gp_form_renders_with_labels_for_every_field(
    personas: Personas, client_for: ClientFor
) -> None:
    r = await (await client_for(personas.gp)).get("/consults/new")
    assert r.status_code == 200
    html = r.text
    for name in ("specialty", "urgency", "patient_name", "patient_dob", "patient_health_number",
                 "question", "body_site", "duration", "lesion_description", "symptoms",
                 "history", "fitzpatrick"):
        assert f'<label for="{name}"' in html, name
        assert f'id="{name}"' in html
    for slot in ("overview", "close_up", "dermoscopy", "other"):
        assert f'id="photo-{slot}-camera" accept="image/*"' in html
        assert f'<label class="button" for="photo-{slot}-camera"' in html
    assert 'capture="environment"' in html
    # Each photo slot shows its own upload and check ("checking…"), into the draft.
    assert html.count('<p class="checking" hidden>') == 4
    assert 'id="draft-status"' in html
    # CSP: only external module scripts, no inline handlers or style attributes.
    assert _scripts(html) == ['<script type="module" src="/static/js/session.js">',
                              '<script type="module" src="/static/js/consult_new.js">']
    assert not re.search(r"\son[a-z]+=", html) and " style=" not in html
    assert 'data-tz="America/Vancouver"' in html


@pytest.mark.parametrize("who", ["derm", "staff", "admin"])
async def test_gp_pages_are_404_for_other_roles(
    personas: Personas, client_for: ClientFor, who: str
) -> None:
    client = await client_for(getattr(personas, who))
    assert (await client.get("/consults/new")).status_code == 404
    assert (await client.get("/consults")).status_code == 404


@pytest.mark.parametrize("who", ["gp", "staff", "admin"])
async def test_queue_is_404_for_non_specialists(
    personas: Personas, client_for: ClientFor, who: str
) -> None:
    assert (await (await client_for(getattr(personas, who))).get("/queue")).status_code == 404


async def test_gp_list_shows_state_specialist_and_due_time(
    rota: None, personas: Personas, client_for: ClientFor
) -> None:
    gp = await client_for(personas.gp)
    empty = (await gp.get("/consults")).text
    assert 'id="empty" >' in empty or 'id="empty">' in empty  # the empty state is shown
    created = ok(await submit(gp), 201)
    html = (await gp.get("/consults")).text
    assert f'data-id="{created["id"]}"' in html
    assert PATIENT in html and personas.derm.name in html
    assert "Waiting for the specialist" in html
    # Submitted 2026-03-02 09:00 Vancouver, due 7 days later: 10:00 local once DST began.
    assert "Mon 09 Mar 2026 10:00" in html
    other = (await (await client_for(personas.other_gp)).get("/consults")).text
    assert created["id"] not in other and PATIENT not in other


async def test_queue_lists_assigned_and_pooled_by_due_time(
    rota: None, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    gp = await client_for(personas.gp)
    routine = ok(await submit(gp), 201)
    urgent = ok(await submit(gp, urgency="urgent", patient_name="Urgent Person"), 201)
    pooled = ok(await submit(gp, specialty="cardiology", urgency="routine",
                             patient_name="Heart Person", body_site=None), 201)
    assert pooled["state"] == "pooled"
    html = (await (await client_for(personas.derm)).get("/queue")).text
    order = re.findall(r'<li class="qrow[^"]*" data-id="([0-9a-f-]+)"', html)
    assert order == [urgent["id"], routine["id"]]  # soonest deadline first
    assert 'data-after="' in html and f'data-me="{personas.derm.id}"' in html
    cardio = (await (await client_for(personas.cardio)).get("/queue")).text
    assert re.findall(r'<li class="qrow[^"]*" data-id="([0-9a-f-]+)"', cardio) == [pooled["id"]]
    assert "Heart Person" in cardio and "Urgent Person" not in cardio
    derm2 = (await (await client_for(personas.derm2)).get("/queue")).text
    assert 'id="queue-empty" >' in derm2 or 'id="queue-empty">' in derm2


async def test_thread_shows_decrypted_content_only_to_allowed_users(
    rota: None, personas: Personas, client_for: ClientFor, db: Database
) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp), 201)["id"]
    derm = await client_for(personas.derm)
    ok(await derm.post(f"/api/v1/consults/{cid}/acknowledge"))
    ok(await derm.post(f"/api/v1/consults/{cid}/messages",
                       json={"kind": "clarification_request", "body": "Any bleeding lately?"}),
       201)
    for client in (gp, derm):
        html = (await client.get(f"/consults/{cid}")).text
        assert QUESTION in html and PATIENT in html and "Any bleeding lately?" in html
        assert "left shoulder" in html  # the dermatology details
        assert "clarification requested" in html  # the timeline
    gp_html = (await gp.get(f"/consults/{cid}")).text
    assert 'data-step="close"' in gp_html and 'data-step="acknowledge"' not in gp_html
    derm_html = (await derm.get(f"/consults/{cid}")).text
    assert 'data-step="reroute"' in derm_html and 'data-step="close"' not in derm_html
    assert 'value="cardiology"' in derm_html and 'value="dermatology"' not in derm_html

    staff = (await (await client_for(personas.staff)).get(f"/consults/{cid}")).text
    assert QUESTION not in staff and PATIENT not in staff and "Any bleeding" not in staff
    assert "clarification requested" in staff  # codes and times only
    for who in ("other_gp", "cardio", "derm2", "admin"):
        r = await (await client_for(getattr(personas, who))).get(f"/consults/{cid}")
        assert r.status_code == 404, who
        assert PATIENT not in r.text
    assert (await gp.get("/consults/not-a-uuid")).status_code == 404

    async with db.read() as session:
        views = list((await session.execute(select(AuditEvent).where(
            col(AuditEvent.action) == "consult.view", col(AuditEvent.object_id) == cid)))
            .scalars())
    assert {v.actor_id for v in views} >= {personas.gp.id, personas.derm.id}
