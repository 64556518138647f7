"""`econsult user add --role delegate --delegate-for GP_EMAIL ...`, run as a user would."""

from __future__ import annotations

from pathlib import Path

from tests.test_cli import STRONG, data_dir, query, run  # noqa: F401  (data_dir: a fixture)


def add(data_dir: Path, email: str, role: str, *extra: str) -> tuple[int, str, str]:  # noqa: F811
    done = run(data_dir, "user", "add", "--email", email, "--name", f"Person {email[:3]}",
               "--role", role, *extra, "--password-stdin", stdin=STRONG + "\n")
    return done.returncode, done.stdout, done.stderr


def test_user_add_links_a_delegate_to_their_gps(data_dir: Path) -> None:  # noqa: F811
    for email in ("gail@example.org", "omar@example.org"):
        assert add(data_dir, email, "gp")[0] == 0
    code, out, err = add(data_dir, "dee@clinic.example", "delegate", "--delegate-for",
                         "Gail@Example.org", "omar@example.org")
    assert code == 0, err
    assert "added delegate dee@clinic.example" in out
    assert "for gail@example.org, omar@example.org" in out
    links = query(data_dir, "SELECT u.email FROM delegate_links l JOIN users u ON u.id = l.gp_id"
                            " ORDER BY u.email")
    assert links == [("gail@example.org",), ("omar@example.org",)]
    audited = query(data_dir, "SELECT action FROM audit_events WHERE action LIKE 'delegate.%'")
    assert audited == [("delegate.link",), ("delegate.link",)]
