"""Build the 10,000,000-consult dataset for the turnaround aggregate from the 1M one,
in minutes rather than the hour `econsult demo --consults 10000000` takes here.

The 1M demo history (`econsult demo --consults 1000000 --no-serve`) is copied, then
its consults are replicated nine times into the past: copy k gets ids whose first
character is a letter past 'f' (so not UUIDs: the API answers 404 for them) and
every timestamp moved back k times the history's span, so the ten
copies form one continuous history ten times as long, with the same mix of
specialties, urgencies, outcomes and answer times; a copy of a consult still open in
the original is cancelled (a consult years old is not open). Indexes are dropped for the bulk
insert and rebuilt after (a sort per index instead of 9M random inserts), then
ANALYZE, as the 1M set has had.

Bench data only: the copies keep the originals' sealed patient fields, which are bound
to the original ids and so do not open (and their ids are not UUIDs). Events,
messages and images are not copied; the aggregate reads the consults table alone.

    .venv/bin/python -m bench.make_10m [--source /tmp/econsult-bench-1m]
                                       [--dest /tmp/econsult-bench-10m] [--copies 10]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import time
from pathlib import Path

from sqlalchemy import inspect

from econsult.models import OPEN_STATES, Consult
from econsult.models.types import UTCDateTime


def _select_copy(k: int, days: int) -> str:
    """SELECT list producing copy k of every consult."""
    parts = []
    for column in inspect(Consult).columns:
        name = column.name
        if name == "id":
            # 'g'..'o' never starts a hex UUID: no copy can meet an original.
            parts.append(f"char({ord('f') + k}) || substr(id, 2)")
        elif name == "state":
            # A copy moved years back is no longer open: the originals' open consults
            # stay the only open ones (as in a real history), cancelled in the copies.
            open_states = ", ".join(f"'{s.value}'" for s in sorted(OPEN_STATES))
            parts.append(f"CASE WHEN state IN ({open_states}) THEN 'cancelled' ELSE state END")
        elif name == "idempotency_key":
            parts.append(f"CASE WHEN idempotency_key IS NULL THEN NULL "
                         f"ELSE idempotency_key || '-{k}' END")
        elif isinstance(column.type, UTCDateTime):
            # Keep SQLAlchemy's text form: whole seconds moved, the fraction kept.
            parts.append(f"CASE WHEN {name} IS NULL THEN NULL ELSE strftime("
                         f"'%Y-%m-%d %H:%M:%S', {name}, '-{k * days} days') || "
                         f"substr({name}, 20) END")
        else:
            parts.append(name)
    return ", ".join(parts)


def build(source: Path, dest: Path, copies: int) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    # Fold the source's WAL into its file first: after a partial checkpoint the main
    # file alone is not a consistent database (copying it without its WAL gave
    # "database disk image is malformed").
    source_db = sqlite3.connect(source / "econsult.db")
    try:
        busy, _, _ = source_db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        source_db.close()
    if busy:
        raise SystemExit(f"{source} is in use (its WAL could not be checkpointed): "
                         "stop what has it open and retry")
    for name in ("econsult.db", "keys.json"):
        shutil.copy2(source / name, dest / name)
    db = sqlite3.connect(dest / "econsult.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")  # a throwaway bench file
    db.execute("PRAGMA cache_size=-2000000")  # 2 GB of page cache for the index builds
    have, last_original = db.execute("SELECT count(*), max(rowid) FROM consults").fetchone()
    first, last = db.execute("SELECT min(submitted_at), max(submitted_at) FROM consults"
                             ).fetchone()
    days = int(db.execute("SELECT julianday(?) - julianday(?)", (last, first)).fetchone()[0]) + 1
    indexes = db.execute("SELECT name, sql FROM sqlite_master WHERE type='index' AND "
                         "tbl_name='consults' AND sql IS NOT NULL").fetchall()
    columns = ", ".join(c.name for c in inspect(Consult).columns)
    start = time.perf_counter()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')
    for k in range(1, copies):
        db.execute("BEGIN")
        db.execute(f"INSERT INTO consults ({columns}) SELECT {_select_copy(k, days)} "
                   f"FROM consults WHERE rowid <= {last_original}")
        db.execute("COMMIT")
        print(f"copy {k}: {(k + 1) * have:,} consults ({time.perf_counter() - start:.0f} s)",
              flush=True)
    for name, sql in indexes:
        db.execute(sql)
        print(f"index {name} ({time.perf_counter() - start:.0f} s)", flush=True)
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    total = db.execute("SELECT count(*) FROM consults").fetchone()[0]
    print(f"{total:,} consults in {dest} ({time.perf_counter() - start:.0f} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=Path("/tmp/econsult-bench-1m"))
    parser.add_argument("--dest", type=Path, default=Path("/tmp/econsult-bench-10m"))
    parser.add_argument("--copies", type=int, default=10)
    args = parser.parse_args()
    build(args.source, args.dest, args.copies)


if __name__ == "__main__":
    main()
