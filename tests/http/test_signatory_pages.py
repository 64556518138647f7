"""How a specialist signs answers: set on their own /account, by an admin on the
person page, or with `econsult user add --credentials --registration`; nobody else
changes it."""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import select
from sqlmodel import col

from econsult.db import Database
from econsult.models import AuditEvent, User
from tests.conftest import ClientFor
from tests.factories import Personas


async def form_client(client_for: ClientFor, user: User) -> tuple[httpx.AsyncClient, str]:
    client = await client_for(user)
    return client, client.headers.pop("X-CSRF-Token")


async def stored(db: Database, user: User) -> tuple[str, str]:
    async with db.read() as session:
        row = await session.get(User, user.id)
    assert row is not None
    return row.credentials, row.registration


async def test_a_specialist_sets_their_own_signature(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    cardio, csrf = await form_client(client_for, personas.cardio)
    page = await cardio.get("/account")
    assert 'id="signatory"' in page.text
    r = await cardio.post("/account", data={"csrf_token": csrf, "action": "signatory",
                                            "credentials": " MD,  FRCPC ",
                                            "registration": "CPSBC 12345"})
    assert r.status_code == 303 and r.headers["location"].endswith("#signatory")
    assert await stored(db, personas.cardio) == ("MD, FRCPC", "CPSBC 12345")
    assert "Dr Carla Dio, MD, FRCPC · registration CPSBC 12345" in (
        await cardio.get("/account")).text
    bad = await cardio.post("/account", data={"csrf_token": csrf, "action": "signatory",
                                              "registration": "<script>"})
    assert bad.status_code == 400 and "registration number" in bad.text
    async with db.read() as session:
        actions = list((await session.execute(select(col(AuditEvent.action)))).scalars())
    assert "user.signatory" in actions


async def test_a_gp_has_no_signature_to_set(client_for: ClientFor, personas: Personas,
                                            db: Database) -> None:
    gp, csrf = await form_client(client_for, personas.gp)
    assert 'id="signatory"' not in (await gp.get("/account")).text
    r = await gp.post("/account", data={"csrf_token": csrf, "action": "signatory",
                                        "credentials": "MD", "registration": "X1"})
    assert r.status_code == 404
    assert await stored(db, personas.gp) == ("", "")


async def test_an_admin_sets_a_specialists_signature_and_nobody_else_can(
        client_for: ClientFor, personas: Personas, db: Database) -> None:
    admin, csrf = await form_client(client_for, personas.admin)
    page = await admin.get(f"/admin/users/{personas.cardio.id}")
    assert 'id="signatory"' in page.text
    r = await admin.post(f"/admin/users/{personas.cardio.id}", data={
        "csrf_token": csrf, "action": "signatory", "credentials": "MD",
        "registration": "CPSO 777"})
    assert r.status_code == 200 and "Signature saved." in r.text
    assert await stored(db, personas.cardio) == ("MD", "CPSO 777")
    # Another specialist cannot change a colleague's (the admin page is closed to them).
    derm, derm_csrf = await form_client(client_for, personas.derm)
    r = await derm.post(f"/admin/users/{personas.cardio.id}", data={
        "csrf_token": derm_csrf, "action": "signatory", "registration": "FAKE 1"})
    assert r.status_code == 404
    assert await stored(db, personas.cardio) == ("MD", "CPSO 777")


def test_user_add_sets_the_signature(tmp_path: Path) -> None:
    from tests.test_cli import STRONG, query, run

    data_dir = tmp_path / "var"
    assert run(data_dir, "migrate").returncode == 0
    added = run(data_dir, "user", "add", "--email", "c@example.org", "--name", "Dr C",
                "--role", "specialist", "--specialty", "cardiology", "--credentials",
                "MD, FRCPC", "--registration", "CPSBC 555", "--password-stdin",
                stdin=STRONG + "\n")
    assert added.returncode == 0, added.stderr
    assert query(data_dir, "SELECT credentials, registration FROM users") == [
        ("MD, FRCPC", "CPSBC 555")]
    refused = run(data_dir, "user", "add", "--email", "d@example.org", "--name", "Dr D",
                  "--role", "specialist", "--specialty", "cardiology", "--registration",
                  "<bad>", "--password-stdin", stdin=STRONG + "\n")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(query(data_dir, "SELECT id FROM users")) == 1  # nothing half-added
