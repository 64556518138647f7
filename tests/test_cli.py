"""The `econsult` command, run as a user would: a separate process, a fresh data dir."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

# Every specialty DESIGN.md promises `econsult migrate` installs.
DESIGN_SPECIALTIES = {
    "dermatology", "cardiology", "endocrinology", "psychiatry", "neurology",
    "gastroenterology", "rheumatology", "nephrology", "hematology", "infectious-diseases",
    "geriatric-medicine", "pediatrics",
}
STRONG = "blue-kettle-morning-42"


def run(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECONSULT_")}
    env["ECONSULT_DATA_DIR"] = str(data_dir)
    return subprocess.run([sys.executable, "-m", "econsult", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    result = run(path, "migrate")
    assert result.returncode == 0, result.stderr
    return path


def query(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(data_dir / "econsult.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_migrate_creates_database_key_file_and_catalogue(tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "var"
    first = run(data_dir, "migrate")
    assert first.returncode == 0, first.stderr
    assert "created key file" in first.stdout and "12 specialties added" in first.stdout
    assert (data_dir / "econsult.db").is_file()
    key_file = data_dir / "keys.json"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    doc = json.loads(key_file.read_text())
    assert len(doc["keys"]) == 1
    assert {row[0] for row in query(data_dir, "SELECT slug FROM specialties")} == \
        DESIGN_SPECIALTIES
    again = run(data_dir, "migrate")
    assert again.returncode == 0 and "created key file" not in again.stdout
    assert "0 specialties added" in again.stdout
    assert json.loads(key_file.read_text()) == doc


def test_user_add(data_dir: Path) -> None:
    args = ("user", "add", "--email", "Dana@Example.org", "--name", "Dr Dana Ermine",
            "--role", "specialist", "--specialty", "dermatology", "--password-stdin")
    added = run(data_dir, *args, stdin=STRONG + "\n")
    assert added.returncode == 0, added.stderr
    assert "added specialist dana@example.org" in added.stdout and "dermatology" in added.stdout
    rows = query(data_dir, "SELECT email, role, password_hash FROM users")
    assert len(rows) == 1 and rows[0][:2] == ("dana@example.org", "specialist")
    assert str(rows[0][2]).startswith("$argon2id$") and STRONG not in str(rows[0][2])
    assert query(data_dir, "SELECT specialty FROM user_specialties") == [("dermatology",)]

    duplicate = run(data_dir, *args, stdin=STRONG + "\n")
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr and "Traceback" not in duplicate.stderr

    weak = run(data_dir, "user", "add", "--email", "gp@example.org", "--name", "Dr GP",
               "--role", "gp", "--password-stdin", stdin="password1234\n")
    assert weak.returncode == 1
    assert "too common" in weak.stderr and "Traceback" not in weak.stderr
    short = run(data_dir, "user", "add", "--email", "gp@example.org", "--name", "Dr GP",
                "--role", "gp", "--password-stdin", stdin="short\n")
    assert short.returncode == 1 and "at least 12" in short.stderr
    assert len(query(data_dir, "SELECT id FROM users")) == 1


def test_audit_verify_detects_an_edited_row(data_dir: Path) -> None:
    added = run(data_dir, "user", "add", "--email", "ada@example.org", "--name", "Ada Admin",
                "--role", "admin", "--password-stdin", stdin=STRONG + "\n")
    assert added.returncode == 0, added.stderr
    intact = run(data_dir, "audit", "verify")
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "intact" in intact.stdout
    subprocess.run(["sqlite3", str(data_dir / "econsult.db"),
                    "UPDATE audit_events SET detail='x' WHERE id=1"], check=True)
    broken = run(data_dir, "audit", "verify")
    assert broken.returncode == 1
    assert "entry 1" in broken.stdout + broken.stderr


def test_serve_refuses_several_workers_on_sqlite(data_dir: Path) -> None:
    result = run(data_dir, "serve", "--workers", "2", "--port", "1")
    assert result.returncode == 2
    assert "PostgreSQL" in result.stderr


def test_serve_runs_the_benchmarked_configuration(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bench/ measures uvloop + httptools (TCP_NODELAY, uvicorn issue 3149) and sockets
    without permessage-deflate: `serve` must run exactly that."""
    import uvicorn

    from econsult import cli

    calls: list[dict[str, object]] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("ECONSULT_DATA_DIR", str(data_dir))
    assert cli.main(["serve", "--port", "8123"]) == 0
    (kwargs,) = calls
    assert kwargs["loop"] == "uvloop" and kwargs["http"] == "httptools"
    assert kwargs["ws_per_message_deflate"] is False
    assert kwargs["port"] == 8123 and kwargs["workers"] == 1
    # Idle connections outlive client pools (tests/reliability/test_keepalive.py).
    assert kwargs["timeout_keep_alive"] == 75


def test_keys_rotate_then_retire(data_dir: Path) -> None:
    old_id = json.loads((data_dir / "keys.json").read_text())["active"]
    rotated = run(data_dir, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    doc = json.loads((data_dir / "keys.json").read_text())
    new_id = doc["active"]
    assert new_id != old_id and len(doc["keys"]) == 2 and new_id in rotated.stdout
    assert stat.S_IMODE((data_dir / "keys.json").stat().st_mode) == 0o600

    refused = run(data_dir, "keys", "retire", new_id)
    assert refused.returncode == 1 and "active" in refused.stderr

    retired = run(data_dir, "keys", "retire", old_id)
    assert retired.returncode == 0, retired.stderr
    doc = json.loads((data_dir / "keys.json").read_text())
    assert doc["active"] == new_id and len(doc["keys"]) == 1
    records = {str(k): v for k, v in query(data_dir,
                                           "SELECT id, retired_at IS NOT NULL FROM keks")}
    assert records == {old_id: 1, new_id: 0}
    assert run(data_dir, "audit", "verify").returncode == 0

    unknown = run(data_dir, "keys", "retire", old_id)
    assert unknown.returncode == 1 and old_id in unknown.stderr


def test_commands_before_migrate_say_to_migrate(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    (data_dir / "keys.json").write_text("{}")  # even with a key file in place
    for args, stdin in [(("user", "add", "--email", "a@example.org", "--name", "A",
                          "--role", "gp", "--password-stdin"), STRONG + "\n"),
                        (("audit", "verify"), ""),
                        (("keys", "rotate"), "")]:
        result = run(data_dir, *args, stdin=stdin)
        assert result.returncode == 1, args
        assert "run `econsult migrate`" in result.stderr, args
        assert "Traceback" not in result.stderr, args
    assert (data_dir / "keys.json").read_text() == "{}"  # rotate touched nothing
