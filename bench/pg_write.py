"""The write path on PostgreSQL: `econsult.consults.submit.submit` called directly (no
HTTP, no photos), one consult after another, vs raw asyncpg writing the same rows (the
consult, its two events, the audit entry and the audit head) in one transaction each,
on the same server. Runs only when 127.0.0.1:5432 answers (trust auth, as in the test
setup); a throwaway database is created and dropped.

    .venv/bin/python -m bench.pg_write [--seconds 5] [--url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import select
from sqlmodel import col

from bench.common import ROOT, Figure
from bench.sqlite_write import GP, _input, _no_publish
from econsult.clock import SystemClock
from econsult.config import Settings
from econsult.consults.deps import ConsultDeps
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

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def answers(host: str = "127.0.0.1", port: int = 5432) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _submits(settings: Settings, seconds: float) -> tuple[list[float], str]:
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


async def raw_writer(conn: Any, template_id: str) -> Callable[[], Awaitable[None]]:
    """One submission's rows as raw asyncpg, copied from the consult `template_id` (its
    row, its two events, its audit entry) and the audit head update, in one transaction
    on `conn`: the returned coroutine function writes one more such set."""
    consult = dict(await conn.fetchrow("SELECT * FROM consults WHERE id = $1", template_id))
    events = [dict(r) for r in await conn.fetch(
        "SELECT * FROM consult_events WHERE consult_id = $1 ORDER BY id", template_id)]
    entry = dict(await conn.fetchrow("SELECT * FROM audit_events WHERE object_id = $1",
                                     template_id))
    for row in (*events, entry):
        row.pop("id")

    def statement(table: str, row: dict[str, Any]) -> str:
        names = ", ".join(f'"{k}"' for k in row)
        marks = ", ".join(f"${i + 1}" for i in range(len(row)))
        return f"INSERT INTO {table} ({names}) VALUES ({marks})"

    async def one() -> None:
        new_id = str(uuid.uuid4())
        async with conn.transaction():
            row = {**consult, "id": new_id, "idempotency_key": None}
            await conn.execute(statement("consults", row), *row.values())
            for event in events:
                row = {**event, "consult_id": new_id}
                await conn.execute(statement("consult_events", row), *row.values())
            digest = secrets.token_hex(32)
            row = {**entry, "object_id": new_id, "hash": digest}
            await conn.execute(statement("audit_events", row), *row.values())
            await conn.execute("UPDATE audit_head SET last_hash = $1", digest)

    return one


async def _raw(url: str, template_id: str, seconds: float) -> list[float]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        one = await raw_writer(conn, template_id)
        times = []
        stop_at = time.perf_counter() + seconds
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            await one()
            times.append(time.perf_counter() - start)
        return times
    finally:
        await conn.close()


@contextmanager
def throwaway_database(admin_url: str = ADMIN_URL) -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh PostgreSQL database and data directory seeded by `econsult demo --no-serve
    --consults 0`: (asyncpg URL, environment naming both); dropped on exit."""
    name = f"econsult_bench_{secrets.token_hex(4)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory(prefix="econsult-bench-pg-") as tmp:
            env = {**os.environ, "ECONSULT_DATA_DIR": tmp,
                   "ECONSULT_DATABASE_URL": url.replace("postgresql://",
                                                        "postgresql+asyncpg://")}
            # This checkout's econsult (the venv's script may be another checkout's).
            subprocess.run([sys.executable, "-m", "econsult", "demo", "--no-serve",
                            "--consults", "0"], env=env, cwd=ROOT, check=True,
                           capture_output=True, timeout=300)
            yield url, env
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def run(seconds: float = 5.0, admin_url: str = ADMIN_URL) -> list[Figure]:
    if not answers():
        return []
    with throwaway_database(admin_url) as (url, env):
        settings = Settings(data_dir=Path(env["ECONSULT_DATA_DIR"]),
                            database_url=env["ECONSULT_DATABASE_URL"])
        times, template = asyncio.run(_submits(settings, seconds))
        raw = asyncio.run(_raw(url, template, seconds))
    econsult_per_s, raw_per_s = len(times) / sum(times), len(raw) / sum(raw)
    detail = {"econsult": {"n": len(times), "median_ms": statistics.median(times) * 1000,
                           "per_s": econsult_per_s},
              "raw": {"n": len(raw), "median_ms": statistics.median(raw) * 1000,
                      "per_s": raw_per_s}}
    return [Figure("pg_write", "submit() commits on PostgreSQL (consult+2 events+audit)",
                   econsult_per_s, "commits/s", raw=raw_per_s,
                   target="(reference: raw asyncpg, same rows)", detail=detail)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--url", default=ADMIN_URL)
    args = parser.parse_args()
    if not answers():
        print("PostgreSQL does not answer on 127.0.0.1:5432: nothing measured")
        return
    for f in run(args.seconds, args.url):
        print(f.as_dict())


if __name__ == "__main__":
    main()
