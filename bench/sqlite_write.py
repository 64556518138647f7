"""The SQLite write path: `econsult.consults.submit.submit` called directly (no HTTP, no
photos), one consult after another, vs raw sqlite3 commits of the same rows at the same
durability setting (WAL, synchronous=NORMAL, BEGIN IMMEDIATE).

A submission's transaction loads the specialty and the rota (routing), inserts the
consult (its patient fields and question sealed with AES-GCM), two consult_events rows
("submitted", then "assigned" or "pooled"), may stamp the assignee's last_assigned_at,
and appends to the hash-chained audit log. The raw loop copies those very rows (a
consult written by `submit`, its two events and its audit entry) under new ids and
writes them with plain sqlite3: one INSERT each, the audit head UPDATE, COMMIT. A second
raw loop also writes what else a submission writes (its search tokens, the assignee's
last_assigned_at), for the ratio against every row.

    .venv/bin/python -m bench.sqlite_write [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sqlite3
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import select
from sqlmodel import col

from bench.common import FORM, Figure, seed_data_dir
from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.consults.deps import ConsultDeps
from econsult.consults.submission import DERMATOLOGY_FIELDS, SubmitInput
from econsult.consults.submit import submit
from econsult.db import Database
from econsult.images.store import FilesystemBlobStore
from econsult.images.workers import ImageWorkers
from econsult.models import User
from econsult.security.audit import GroupRecorder
from econsult.security.fields import FieldCipher
from econsult.security.keyring import load_keyring
from econsult.security.policy import Principal
from econsult.turnaround.calendar import program_calendar

GP = "gp@demo.econsult.org"


async def _no_publish(events: object) -> None:
    return None


def _input() -> SubmitInput:
    details = {k: v for k, v in FORM.items() if k in DERMATOLOGY_FIELDS}
    return SubmitInput(specialty=FORM["specialty"], urgency=FORM["urgency"],
                       question=FORM["question"], patient_name=FORM["patient_name"],
                       patient_dob=FORM["patient_dob"],
                       patient_health_number=FORM["patient_health_number"], details=details)


async def _submits(data_dir: Path, seconds: float) -> tuple[list[float], str]:
    settings = Settings(data_dir=data_dir)
    db = Database.from_settings(settings)
    keyring = load_keyring(None, settings.key_file)
    workers = ImageWorkers(kind="thread", size=1)  # unused: no photos
    svc = cast(ConsultDeps, SimpleNamespace(
        settings=settings, db=db, fields=FieldCipher(keyring), clock=SystemClock(),
        calendar=program_calendar(settings), keyring=keyring, workers=workers,
        blobs=FilesystemBlobStore(settings.blob_dir), audit=GroupRecorder(db),
        publish=_no_publish, wake=lambda when: None))
    try:
        async with db.read() as session:
            user = (await session.execute(select(User).where(col(User.email) == GP))
                    ).scalar_one()
        gp = Principal(id=user.id or 0, role=user.role, active=True, specialties=frozenset(),
                       email=user.email, name=user.name)
        data = _input()
        summary, _ = await submit(svc, gp, data, [])  # warm up
        times = []
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            await submit(svc, gp, data, [])
            times.append(time.perf_counter() - start)
        return times, summary.id
    finally:
        workers.shutdown()
        await db.dispose()


def _raw(db_path: Path, template_id: str, seconds: float, every_row: bool = False
         ) -> list[float]:
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    consult = dict(conn.execute("SELECT * FROM consults WHERE id = ?", (template_id,)).fetchone())
    events = [dict(r) for r in conn.execute(
        "SELECT * FROM consult_events WHERE consult_id = ? ORDER BY id", (template_id,))]
    entry = dict(conn.execute("SELECT * FROM audit_events WHERE object_id = ?",
                              (template_id,)).fetchone())
    tokens = [dict(r) for r in conn.execute(
        "SELECT * FROM consult_search_tokens WHERE consult_id = ?", (template_id,))]

    def insert(table: str, row: dict[str, Any]) -> None:
        names = ", ".join(row)
        marks = ", ".join("?" * len(row))
        conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(row.values()))

    times = []
    stop_at = time.perf_counter() + seconds
    try:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            new_id = str(uuid.uuid4())
            conn.execute("BEGIN IMMEDIATE")
            insert("consults", {**consult, "id": new_id, "idempotency_key": None})
            for event in events:
                insert("consult_events", {**event, "id": None, "consult_id": new_id})
            if every_row:  # what else submit() writes: search tokens, assignee stamp
                conn.executemany(
                    "INSERT INTO consult_search_tokens (consult_id, token, kek_id) "
                    "VALUES (?, ?, ?)", [(new_id, secrets.token_bytes(len(t["token"])),
                                          t["kek_id"]) for t in tokens])
                conn.execute("UPDATE users SET last_assigned_at = ? WHERE id = ?",
                             (consult["submitted_at"], consult["assigned_to"]))
            digest = secrets.token_hex(32)
            insert("audit_events", {**entry, "id": None, "object_id": new_id, "hash": digest})
            conn.execute("UPDATE audit_head SET last_hash = ?", (digest,))
            conn.execute("COMMIT")
            times.append(time.perf_counter() - start)
    finally:
        conn.close()
    return times


def run(seconds: float = 5.0) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="econsult-bench-write-") as tmp:
        data_dir = Path(tmp)
        seed_data_dir(data_dir)
        times, template = asyncio.run(_submits(data_dir, seconds))
        raw = _raw(data_dir / "econsult.db", template, seconds)
        every = _raw(data_dir / "econsult.db", template, seconds, every_row=True)
    econsult_per_s, raw_per_s = len(times) / sum(times), len(raw) / sum(raw)
    every_per_s = len(every) / sum(every)
    detail = {"econsult": {"n": len(times), "median_ms": statistics.median(times) * 1000,
                           "per_s": econsult_per_s},
              "raw": {"n": len(raw), "median_ms": statistics.median(raw) * 1000,
                      "per_s": raw_per_s},
              "raw_every_row": {"n": len(every), "median_ms": statistics.median(every) * 1000,
                                "per_s": every_per_s}}
    return [Figure("sqlite_write", "submit() commits (consult + 2 events + audit)",
                   econsult_per_s, "commits/s", raw=raw_per_s,
                   target=">= 0.25x raw sqlite3, same rows", ok=econsult_per_s >= 0.25 * raw_per_s,
                   detail=detail),
            Figure("sqlite_write", "the same, raw also writing tokens + stamp",
                   econsult_per_s, "commits/s", raw=every_per_s,
                   target="(reference: every row submit writes)", detail=detail)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    for f in run(parser.parse_args().seconds):
        print(f.as_dict())


if __name__ == "__main__":
    main()
