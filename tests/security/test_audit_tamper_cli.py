"""`econsult audit verify` against the database's owner: each way of cutting or rewriting
the log, made with plain SQL on the database file, and the command run as an operator
would (a separate process). Exit 1 naming the first broken entry, every time."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlmodel import Session, select

from econsult.models import AuditEvent
from econsult.security.audit import row_hash

STRONG = "blue-kettle-morning-42"


def run(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECONSULT_")}
    env["ECONSULT_DATA_DIR"] = str(data_dir)
    env["ECONSULT_AUDIT_CHECKPOINT_SECONDS"] = "0"
    return subprocess.run([sys.executable, "-m", "econsult", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def add_user(data_dir: Path, n: int) -> None:
    result = run(data_dir, "user", "add", "--email", f"user{n}@example.org", "--name",
                 f"User {n}", "--role", "gp", "--password-stdin", stdin=STRONG + "\n")
    assert result.returncode == 0, result.stderr


def sql(data_dir: Path, *statements: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / "econsult.db")
    try:
        rows: list[tuple[object, ...]] = []
        for statement in statements:
            rows = conn.execute(statement).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def ids(data_dir: Path) -> list[int]:
    return [int(str(r[0])) for r in sql(data_dir, "SELECT id FROM audit_events ORDER BY id")]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of 3 entries, a checkpoint at 3, an old head kept (as an attacker with a
    copy of the database would), then 2 more entries (5 in all), and a second checkpoint
    only in `base/with-tail`."""
    data_dir = tmp_path_factory.mktemp("audit") / "var"
    assert run(data_dir, "migrate").returncode == 0
    for n in range(3):
        add_user(data_dir, n)
    made = run(data_dir, "audit", "checkpoint")
    assert made.returncode == 0, made.stdout + made.stderr
    assert json.loads(made.stdout)["count"] == 3
    (data_dir.parent / "old-head.json").write_text(json.dumps(
        sql(data_dir, "SELECT last_id, last_hash, mac, mac_kek FROM audit_head")[0]))
    for n in range(3, 5):
        add_user(data_dir, n)
    assert ids(data_dir) == [1, 2, 3, 4, 5]
    return data_dir


@pytest.fixture
def site(base: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "var"
    shutil.copytree(base, copy)
    shutil.copy(base.parent / "old-head.json", tmp_path / "old-head.json")
    return copy


def broken_at(data_dir: Path, entry: int) -> str:
    result = run(data_dir, "audit", "verify")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert f"BROKEN at entry {entry}:" in out, out
    assert "Traceback" not in out
    return out


def test_the_untouched_log_verifies(site: Path) -> None:
    result = run(site, "audit", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "intact: 5 entries" in result.stdout


def test_an_edited_row(site: Path) -> None:
    sql(site, "UPDATE audit_events SET detail = 'role=admin' WHERE id = 2")
    broken_at(site, 2)


def test_an_edited_row_with_the_whole_chain_and_head_recomputed(site: Path) -> None:
    """The owner knows the hash algorithm: rewrite row 2, rehash every row after it and
    the head, and sign with a key of their own. The MAC still fails at row 2."""
    engine = create_engine(f"sqlite:///{site / 'econsult.db'}")
    guess = hashlib.sha256(b"not the key").digest()
    with Session(engine) as session:
        rows = list(session.exec(select(AuditEvent).order_by(AuditEvent.id)))  # type: ignore[arg-type]
        prev = rows[0].hash
        for row in rows[1:]:
            if row.id == 2:
                row.detail = "role=admin"
            row.prev_hash = prev
            row.hash = prev = row_hash(prev, row)
            row.mac = hmac.new(guess, row.hash.encode(), hashlib.sha256).hexdigest()
            session.add(row)
        session.commit()
    engine.dispose()
    sql(site, f"UPDATE audit_head SET last_hash = '{prev}'")
    out = broken_at(site, 2)
    assert "MAC" in out


def test_a_deleted_row(site: Path) -> None:
    sql(site, "DELETE FROM audit_events WHERE id = 2")
    broken_at(site, 3)


def test_reordered_rows(site: Path) -> None:
    sql(site, "UPDATE audit_events SET id = 100 WHERE id = 2",
        "UPDATE audit_events SET id = 2 WHERE id = 3",
        "UPDATE audit_events SET id = 3 WHERE id = 100")
    broken_at(site, 2)


def test_all_rows_deleted(site: Path) -> None:
    sql(site, "DELETE FROM audit_events", "DELETE FROM audit_head")
    out = broken_at(site, 1)
    assert "checkpoint" in out


def test_the_last_rows_deleted_and_the_head_rewound_to_match(base: Path,
                                                             tmp_path: Path) -> None:
    """The owner deletes the newest entries and puts back the head as it was before them
    (from an old copy of the database, so even the head's MAC is genuine). The
    checkpoint written since names the first entry cut."""
    site = tmp_path / "var"
    shutil.copytree(base, site)
    old_head = sql(site, "SELECT last_id, last_hash, mac, mac_kek FROM audit_head")[0]
    add_user(site, 9)
    add_user(site, 10)  # entries 6 and 7
    assert run(site, "audit", "checkpoint").returncode == 0
    last_id, last_hash, mac, mac_kek = old_head
    sql(site, "DELETE FROM audit_events WHERE id > 5",
        f"UPDATE audit_head SET last_id = {last_id}, last_hash = '{last_hash}', "
        f"mac = '{mac}', mac_kek = '{mac_kek}'")
    out = broken_at(site, 6)
    assert "7 entries" in out


def test_a_head_rewound_without_an_old_copy_fails_its_mac(site: Path) -> None:
    row = sql(site, "SELECT id, hash FROM audit_events WHERE id = 4")[0]
    sql(site, "DELETE FROM audit_events WHERE id > 4",
        f"UPDATE audit_head SET last_id = {row[0]}, last_hash = '{row[1]}'")
    out = broken_at(site, 4)
    assert "head" in out


def test_an_edited_checkpoint_file_is_refused(site: Path) -> None:
    path = site / "audit-checkpoints"
    line = json.loads(path.read_text().splitlines()[0])
    line["count"] = 2
    path.write_text(json.dumps(line) + "\n")
    result = run(site, "audit", "verify")
    assert result.returncode == 1 and "bad signature" in result.stdout


def test_checkpoint_refuses_to_vouch_for_a_tampered_tail(site: Path) -> None:
    sql(site, "UPDATE audit_events SET detail = 'x' WHERE id = 5")
    result = run(site, "audit", "checkpoint")
    assert result.returncode == 1 and "entry 5" in result.stdout
    assert len((site / "audit-checkpoints").read_text().splitlines()) == 1


def test_checkpoints_and_database_files_are_owner_only(site: Path) -> None:
    assert stat.S_IMODE(site.stat().st_mode) == 0o700
    for name in ("audit-checkpoints", "econsult.db", "keys.json"):
        assert stat.S_IMODE((site / name).stat().st_mode) == 0o600, name


def test_a_legacy_chain_is_keyed_at_migrate_once(tmp_path: Path) -> None:
    """Rows written before the chain was keyed (no MAC) get one at `econsult migrate`,
    if the chain verifies; a MAC blanked later in a keyed chain is never re-blessed."""
    site = tmp_path / "var"
    assert run(site, "migrate").returncode == 0
    add_user(site, 1)
    add_user(site, 2)
    sql(site, "UPDATE audit_events SET mac = '', mac_kek = ''",
        "UPDATE audit_head SET mac = '', mac_kek = ''")
    out = broken_at(site, 1)
    assert "no MAC" in out and "econsult migrate" in out
    assert run(site, "migrate").returncode == 0
    result = run(site, "audit", "verify")
    assert result.returncode == 0, result.stdout
    assert "intact: 3 entries" in result.stdout  # the 2 rows and audit.chain_keyed
    assert (site / "audit-checkpoints").is_file()
    # Now an attacker rewrites row 1 and blanks every MAC, hoping for another migrate.
    sql(site, "UPDATE audit_events SET mac = '', mac_kek = ''",
        "UPDATE audit_head SET mac = '', mac_kek = ''")
    assert run(site, "migrate").returncode == 0
    broken_at(site, 1)
