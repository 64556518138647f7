"""GET /api/v1/consults: filters, keyset paging to the end, search through blind
indexes, and what another GP, staff or a probing query can never get."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlmodel import col
from starlette.applications import Starlette

from econsult.clock import ManualClock
from econsult.config import Settings
from econsult.consults import search
from econsult.db import Database
from econsult.http.state import app_state
from econsult.models import OPEN_STATES, Consult, ConsultSearchToken, Role
from econsult.ops import keys
from econsult.security.keyring import kek_id_for, new_key, parse_master_key
from econsult.security.policy import Action, Principal, may
from tests.bulk_consults import bulk_consults, health_number
from tests.conftest import ClientFor
from tests.factories import Personas, ok, submit

RANK = {"awaiting_gp": 0, "answered": 0, "assigned": 1, "pooled": 1, "in_review": 1,
        "closed": 2, "cancelled": 2}


async def all_pages(client: httpx.AsyncClient, query: str = "", limit: int = 200
                    ) -> tuple[list[dict[str, Any]], int]:
    """Every row, following next_cursor; and how many pages that took."""
    rows: list[dict[str, Any]] = []
    cursor, pages = None, 0
    while True:
        params = f"?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        page = ok(await client.get(f"/api/v1/consults{params}"))
        rows += page["consults"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            return rows, pages
        assert pages < 100


async def test_a_gp_with_1200_consults_pages_to_the_last_one_in_a_stable_order(
    app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    svc = app_state(app)
    made = await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                               specialist_id=personas.derm.id or 0, n=1200, start=clock.now())
    gp = await client_for(personas.gp)
    rows, pages = await all_pages(gp, limit=200)
    assert pages == 6 and len(rows) == 1200
    assert len({r["id"] for r in rows}) == 1200  # no row twice, none skipped
    # Needs your action first (clarification requested, answered), then open, then
    # finished; newest first within each; ties in time broken by id.
    expected = sorted(made, key=lambda m: (RANK[m.state], -m.submitted_at.timestamp(), m.id))
    ties = [m for m in made if m.submitted_at in {o.submitted_at for o in made if o != m}]
    assert ties  # the data has ties the order must break
    by_rank = [r["id"] for r in rows]
    assert [RANK[r["state"]] for r in rows] == sorted(RANK[r["state"]] for r in rows)
    assert set(by_rank) == {m.id for m in expected}
    exp_times = [m.submitted_at.timestamp() for m in expected]
    got = {m.id: m.submitted_at.timestamp() for m in made}
    assert [got[i] for i in by_rank] == exp_times
    assert by_rank == [m.id for m in sorted(made, key=lambda m: (
        RANK[m.state], -m.submitted_at.timestamp(), "".join(chr(255 - ord(c)) for c in m.id)))]
    # A smaller page size walks the same order.
    small, small_pages = await all_pages(gp, limit=77)
    assert [r["id"] for r in small] == by_rank and small_pages == 16
    # Another GP sees none of them, however they page.
    other = await client_for(personas.other_gp)
    assert (await all_pages(other))[0] == []


async def test_filters_narrow_and_combine(
    app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    svc = app_state(app)
    made = await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                               specialist_id=personas.derm.id or 0, n=60, start=clock.now())
    made += await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                                specialist_id=personas.cardio.id or 0, n=10,
                                start=clock.now(), specialty="cardiology", first=60)
    gp = await client_for(personas.gp)

    def ids(rows: list[dict[str, Any]]) -> set[str]:
        return {r["id"] for r in rows}

    closed = (await all_pages(gp, "&state=closed"))[0]
    assert ids(closed) == {m.id for m in made if m.state == "closed"}
    both = (await all_pages(gp, "&state=closed,cancelled"))[0]
    assert ids(both) == {m.id for m in made if m.state in ("closed", "cancelled")}
    cardio = (await all_pages(gp, "&specialty=cardiology"))[0]
    assert ids(cardio) == {m.id for m in made[60:]}
    action = (await all_pages(gp, "&needs_action=1"))[0]
    assert ids(action) == {m.id for m in made if m.state in ("awaiting_gp", "answered")}
    assert action and all(r["state"] in ("awaiting_gp", "answered") for r in action)
    # Dates are days in the program's zone, both ends included.
    local = clock.now().astimezone(svc.settings.timezone)
    today = local.date().isoformat()
    todays = {m.id for m in made
              if m.submitted_at.astimezone(svc.settings.timezone).date() == local.date()}
    assert ids((await all_pages(gp, f"&from={today}&to={today}"))[0]) == todays
    older = (await all_pages(gp, f"&to={(local.date() - timedelta(days=1)).isoformat()}"))[0]
    assert ids(older) == {m.id for m in made} - todays
    combined = (await all_pages(gp, "&state=closed&specialty=cardiology"))[0]
    assert ids(combined) == {m.id for m in made[60:] if m.state == "closed"}


@pytest.mark.parametrize("query", [
    "limit=0", "limit=201", "limit=abc", "limit=1.5", "state=bogus", "state=closed,nope",
    "needs_action=2", "from=yesterday", "to=2026-13-01", "from=2026-03-05&to=2026-03-01",
    "cursor=garbage!", "cursor=" + base64.urlsafe_b64encode(b'[1,"x"]').decode(),
    "cursor=" + base64.urlsafe_b64encode(b'["a","2026-01-01T00:00:00+00:00","id"]').decode(),
    "cursor=" + base64.urlsafe_b64encode(b'[0,"not a time","id"]').decode(),
    "cursor=" + base64.urlsafe_b64encode(b'[0,"2026-01-01T00:00:00","id"]').decode(),
    "cursor=" + base64.urlsafe_b64encode(b'[0,"0001-01-01T00:00:00+05:00","id"]').decode(),
    "cursor=" + base64.urlsafe_b64encode(b'[99999999999999999999,"2026-01-01T00:00:00+00:00",'
                                         b'"id"]').decode(),
    "cursor=" + base64.urlsafe_b64encode(b'{"a": 1}').decode(), "cursor=" + "A" * 401,
    "q=a", "q=" + "x" * 101, "q=%20%20", "q=ab+cd+ef+gh+ij+kl",
])
async def test_bad_values_answer_400_and_say_why(
    personas: Personas, client_for: ClientFor, query: str
) -> None:
    gp = await client_for(personas.gp)
    response = await gp.get(f"/api/v1/consults?{query}")
    if query == "q=%20%20":  # an empty search is no search
        assert response.status_code == 200
        return
    assert response.status_code == 400, (query, response.text)
    error = response.json()["error"]
    assert error["code"] and error["message"]


async def test_a_cursor_is_only_a_position_never_a_key_to_other_consults(
    app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    svc = app_state(app)
    await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                        specialist_id=personas.derm.id or 0, n=30, start=clock.now())
    gp, other = await client_for(personas.gp), await client_for(personas.other_gp)
    cursor = ok(await gp.get("/api/v1/consults?limit=5"))["next_cursor"]
    assert cursor
    stolen = ok(await other.get(f"/api/v1/consults?limit=5&cursor={cursor}"))
    assert stolen == {"consults": [], "next_cursor": None}


async def test_search_by_health_number_and_by_name_prefix(
    app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    svc = app_state(app)
    gp = await client_for(personas.gp)
    mine = ok(await submit(gp, patient_name="Zoë O'Brien-Tremblay",
                           patient_health_number="9123-456 789"), 201)["id"]
    ok(await submit(gp, patient_name="Zoltan Brown", patient_health_number="1111 222 333"),
       201)
    made = await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                               specialist_id=personas.derm.id or 0, n=40, start=clock.now())

    async def found(q: str) -> list[str]:
        return [r["id"] for r in (await all_pages(gp, f"&q={q}"))[0]]

    # The health number exactly, however it is spaced or hyphenated.
    assert await found("9123456789") == [mine]
    assert await found("9123%20456%20789") == [mine]
    assert await found("9123-456-789") == [mine]
    assert await found("912345678") == []  # part of a number finds nothing
    # Name words by their first letters, accents and case ignored; every word must match.
    zoltan = await found("zoltan")
    assert len(zoltan) == 1 and set(await found("zo")) == {mine, zoltan[0]}
    assert await found("ZOE") == [mine]
    assert await found("obr") == [mine]
    assert await found("trem%20zo") == [mine]
    assert await found("tremblay%20zoltan") == []
    assert await found("rien") == []  # not letters in the middle of a word
    # Among many: one bulk patient by number, all the Tremblays by prefix.
    target = made[17]
    assert await found(health_number(17)) == [target.id]
    assert set(await found("tremb")) == {mine} | {m.id for m in made
                                                  if "Tremblay" in m.patient_name}
    # Search combines with the filters.
    closed = set(await found("tremb&state=closed"))
    assert closed == {m.id for m in made if "Tremblay" in m.patient_name
                      and m.state == "closed"}


async def test_q_cannot_probe_another_gps_patients(
    app: Starlette, personas: Personas, client_for: ClientFor, rota: None
) -> None:
    gp, other = await client_for(personas.gp), await client_for(personas.other_gp)
    ok(await submit(gp, patient_name="Quentin Secret", patient_health_number="5555 666 777"),
       201)
    for q in ("quentin", "secret", "5555666777", "qu"):
        assert ok(await other.get(f"/api/v1/consults?q={q}&state=all")) == {
            "consults": [], "next_cursor": None}
        assert ok(await gp.get(f"/api/v1/consults?q={q}"))["consults"]
    # A specialist finds only consults routed to them or in their pools.
    derm, cardio = await client_for(personas.derm), await client_for(personas.cardio)
    assert ok(await derm.get("/api/v1/consults?q=quentin&state=all"))["consults"]
    assert ok(await cardio.get("/api/v1/consults?q=quentin&state=all"))["consults"] == []
    # Staff see codes and times, and may not search by patient at all.
    staff = await client_for(personas.staff)
    refused = await staff.get("/api/v1/consults?q=quentin")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "search_not_allowed"
    assert "patient_name" not in ok(await staff.get("/api/v1/consults"))["consults"][0]


async def test_the_database_holds_neither_the_name_nor_the_number_in_plaintext(
    app: Starlette, personas: Personas, client_for: ClientFor, settings: Settings, db: Database
) -> None:
    if not db.is_sqlite:
        pytest.skip("reads the SQLite file")
    gp = await client_for(personas.gp)
    ok(await submit(gp, patient_name="Wilhelmina Plaintextova",
                    patient_health_number="8765 4321 99"), 201)
    assert ok(await gp.get("/api/v1/consults?q=wilhel"))["consults"]
    path = Path(settings.database_url.split("///", 1)[1])
    # The file and its write-ahead log: wherever the rows are now.
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    for needle in ("Wilhelmina", "wilhelmina", "Plaintextova", "plaintextova", "wilhel",
                   "8765 4321 99", "8765432199"):
        assert needle.encode() not in raw, needle
    # The sqlite3 shell's dump of the whole database (blobs as hex, so look for both).
    if shutil.which("sqlite3"):
        dump = subprocess.run(["sqlite3", str(path), ".dump"], capture_output=True,
                              text=True, timeout=60, check=True).stdout.lower()
        assert "insert into consult_search_tokens" in dump
        for needle in ("wilhelmina", "plaintextova", "8765432199", "8765 4321 99"):
            assert needle not in dump and needle.encode().hex() not in dump, needle
    # And through the sqlite3 module, every text and blob value of every table.
    with sqlite3.connect(path) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite
                blob = json.dumps([v.hex() if isinstance(v, bytes) else v for v in row],
                                  default=str).lower()
                values = b"".join(v if isinstance(v, bytes) else str(v).encode()
                                  for v in row if v is not None).lower()
                for needle in ("wilhelmina", "plaintextova", "8765432199", "8765 4321 99"):
                    assert needle not in blob and needle.encode() not in values, (table, row)


async def test_search_still_works_after_a_key_rotation(
    app: Starlette, personas: Personas, client_for: ClientFor, settings: Settings, db: Database,
    rota: None
) -> None:
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp, patient_name="Rosalind Rotate",
                          patient_health_number="4444 333 222"), 201)["id"]
    old_id = app_state(app).keyring.active_id
    assert settings.master_key
    fresh = base64.b64encode(new_key()).decode()
    both = settings.with_(master_key=f"{fresh},{settings.master_key}")
    # The running server takes the new keyring (as keywatch does), then the CLI's rotate.
    app_state(app).keyring.replace_with(parse_master_key(both.master_key or ""))
    # Mid-rotation (tokens still under the old key's search key) search works.
    assert [r["id"] for r in ok(await gp.get("/api/v1/consults?q=rosa"))["consults"]] == [cid]
    new_id, counts = await keys.rotate(both)
    assert new_id == kek_id_for(base64.b64decode(fresh)) and counts["search"] == 1
    async with db.read() as session:
        kek_ids = set((await session.execute(select(col(ConsultSearchToken.kek_id)))).scalars())
        total = (await session.execute(
            select(func.count()).select_from(ConsultSearchToken))).scalar_one()
    assert kek_ids == {new_id} and total > 0
    # Now only the new key's tokens exist, and they are found; nothing is left to retire on.
    app_state(app).keyring.replace_with(parse_master_key(fresh))
    for q in ("rosa", "rotat", "4444333222"):
        assert [r["id"] for r in ok(await gp.get(f"/api/v1/consults?q={q}"))["consults"]] == [
            cid]
    assert await keys.protected_kinds()[2].count(db, old_id, settings) == 0


async def test_a_specialists_tabs_and_queue_rows(
    app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    svc = app_state(app)
    made = await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                               specialist_id=personas.derm.id or 0, n=30, start=clock.now())
    derm = await client_for(personas.derm)
    queue = (await all_pages(derm, limit=7))[0]
    open_ = {"assigned", "in_review", "awaiting_gp", "pooled"}
    assert {r["id"] for r in queue} == {m.id for m in made if m.state in open_}
    due = [r["due_at"] for r in queue if r["due_at"]]
    assert due == sorted(due) and all(not r["due_at"] for r in queue[len(due):])
    answered = (await all_pages(derm, "&state=answered,closed"))[0]
    assert {r["id"] for r in answered} == {m.id for m in made
                                           if m.state in ("answered", "closed")}
    everything = (await all_pages(derm, "&state=all", limit=9))[0]
    assert {r["id"] for r in everything} == {m.id for m in made}
    row = queue[0]
    assert row["gp_name"] == personas.gp.name and row["photo_count"] == 0
    assert row["question_preview"].startswith("Bulk consult number")
    assert isinstance(row["patient_age"], int) and row["patient_age"] >= 60
    # Another dermatologist sees only the pool; a cardiologist nothing.
    derm2, cardio = await client_for(personas.derm2), await client_for(personas.cardio)
    assert {r["state"] for r in (await all_pages(derm2, "&state=all"))[0]} == {"pooled"}
    assert (await all_pages(cardio, "&state=all"))[0] == []


async def test_reindex_makes_consults_without_tokens_findable(
    app: Starlette, personas: Personas, client_for: ClientFor, db: Database, rota: None
) -> None:
    """Consults written before the index (or bulk-loaded) are found after a reindex;
    current ones are left alone."""
    gp = await client_for(personas.gp)
    cid = ok(await submit(gp, patient_name="Ursula Unindexed"), 201)["id"]
    async with db.write() as session:
        await session.execute(delete(ConsultSearchToken))
    assert ok(await gp.get("/api/v1/consults?q=ursula"))["consults"] == []
    assert await search.reindex(db, app_state(app).keyring) == 1
    assert [r["id"] for r in ok(await gp.get("/api/v1/consults?q=ursula"))["consults"]] == [cid]
    assert await search.reindex(db, app_state(app).keyring) == 0


async def test_staff_page_through_everyones_codes_newest_first(
    app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    svc = app_state(app)
    made = await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                               specialist_id=personas.derm.id or 0, n=40, start=clock.now())
    made += await bulk_consults(db, svc.fields, gp_id=personas.other_gp.id or 0,
                                specialist_id=personas.derm.id or 0, n=25,
                                start=clock.now(), first=40)
    staff = await client_for(personas.staff)
    rows, pages = await all_pages(staff, limit=10)
    assert pages == 7 and len({r["id"] for r in rows}) == 65
    assert [r["submitted_at"] for r in rows] == sorted((r["submitted_at"] for r in rows),
                                                       reverse=True)
    assert not any("patient_name" in r or "question_preview" in r for r in rows)


async def test_every_filter_for_every_persona_lists_exactly_what_policy_allows(
    app: Starlette, personas: Personas, client_for: ClientFor, clock: ManualClock, db: Database
) -> None:
    """From the attacker's side, exhaustively: whatever the filters, a list (paged to
    the end) is exactly the consults `may(view_meta)` allows that match them."""
    svc = app_state(app)
    made = await bulk_consults(db, svc.fields, gp_id=personas.gp.id or 0,
                               specialist_id=personas.derm.id or 0, n=30, start=clock.now())
    made += await bulk_consults(db, svc.fields, gp_id=personas.other_gp.id or 0,
                                specialist_id=personas.derm2.id or 0, n=20, start=clock.now(),
                                first=30)
    made += await bulk_consults(db, svc.fields, gp_id=personas.other_gp.id or 0,
                                specialist_id=personas.cardio.id or 0, n=10, start=clock.now(),
                                specialty="cardiology", first=50)
    async with db.read() as session:
        rows = {c.id: c for c in (await session.execute(select(Consult))).scalars()}
    specialties = {personas.derm.id: {"dermatology"}, personas.derm2.id: {"dermatology"},
                   personas.cardio.id: {"cardiology"}}
    for user in (personas.gp, personas.other_gp, personas.derm, personas.derm2,
                 personas.cardio, personas.staff):
        principal = Principal(id=user.id or 0, role=user.role,
                              specialties=frozenset(specialties.get(user.id, set())))
        client = await client_for(user)
        for state in ("", "all", "closed", "pooled,awaiting_gp", "answered,closed"):
            for extra in ("", "&needs_action=1", "&specialty=cardiology"):
                got = {r["id"] for r in (await all_pages(
                    client, (f"&state={state}" if state else "") + extra, limit=13))[0]}
                visible = {cid for cid, c in rows.items()
                           if may(principal, Action.view_meta, c)}
                assert got <= visible, (user.email, state, extra)
                wanted = set(visible)
                if state and state != "all":
                    wanted = {c for c in wanted if rows[c].state in state.split(",")}
                elif not state and user.role is Role.specialist:
                    wanted = {c for c in wanted if rows[c].state in OPEN_STATES}
                if "cardiology" in extra:
                    wanted = {c for c in wanted if rows[c].specialty == "cardiology"}
                if "needs_action" in extra:  # what waits for this caller
                    waiting = {Role.gp: {"awaiting_gp", "answered"},
                               Role.specialist: {"assigned", "in_review"}}.get(user.role, set())
                    wanted = {c for c in wanted if rows[c].state in waiting}
                assert got == wanted, (user.email, state, extra, len(got), len(wanted))
    assert made
