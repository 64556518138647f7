"""Settings: read once from ECONSULT_*, cast, and refused with a named variable when wrong."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from econsult.clock import zone
from econsult.config import ConfigError, Settings


def test_defaults() -> None:
    s = Settings.from_env({})
    assert s.data_dir == Path("var")
    assert s.database_url == "sqlite+aiosqlite:///var/econsult.db"
    assert s.is_sqlite
    assert s.master_key is None
    assert s.timezone is zone("America/Vancouver")
    assert s.cookie_secure is False
    assert s.session_cookie_name == "econsult_session"
    assert s.max_image_mb == 25 and s.max_image_bytes == 25 * 1024 * 1024
    assert s.smtp_url is None and s.blob_url is None and s.public_url is None
    assert s.business_hours == (time(8), time(17))
    assert s.key_file == Path("var/keys.json") and s.blob_dir == Path("var/blobs")


def test_empty_values_count_as_unset() -> None:
    assert Settings.from_env({"ECONSULT_MAX_IMAGE_MB": "", "ECONSULT_TIMEZONE": ""}) == \
        Settings.from_env({})


def test_every_variable_is_cast(tmp_path: Path) -> None:
    s = Settings.from_env({
        "ECONSULT_DATA_DIR": str(tmp_path),
        "ECONSULT_MASTER_KEY": "a2V5",
        "ECONSULT_TIMEZONE": "America/Toronto",
        "ECONSULT_COOKIE_SECURE": "1",
        "ECONSULT_MAX_IMAGE_MB": "40",
        "ECONSULT_SMTP_URL": "smtp://mail.example.org:25",
        "ECONSULT_SMTP_FROM": "noreply@example.org",
        "ECONSULT_BLOB_URL": "s3://bucket/prefix",
        "ECONSULT_PUBLIC_URL": "https://econsult.example.org/",
        "ECONSULT_SESSION_IDLE_MINUTES": "20",
        "ECONSULT_SESSION_MAX_HOURS": "8",
        "ECONSULT_LOGIN_MAX_FAILURES": "3",
        "ECONSULT_HOLIDAYS": "CA-ON",
        "ECONSULT_BUSINESS_HOURS": "09:00-16:30",
        "ECONSULT_IMAGE_WORKERS": "4",
    })
    assert s.data_dir == tmp_path
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path}/econsult.db"
    assert s.key_file == tmp_path / "keys.json"
    assert s.master_key == "a2V5"
    assert s.timezone is zone("America/Toronto")
    assert s.cookie_secure is True
    assert s.max_image_mb == 40 and s.max_image_bytes == 40 * 1024 * 1024
    assert s.smtp_url == "smtp://mail.example.org:25"
    assert s.smtp_from == "noreply@example.org"
    assert s.blob_url == "s3://bucket/prefix"
    assert s.public_url == "https://econsult.example.org"
    assert s.session_idle_minutes == 20 and s.session_max_hours == 8
    assert s.login_max_failures == 3
    assert s.holidays_region == "CA-ON"
    assert s.business_hours == (time(9), time(16, 30))
    assert s.image_workers == 4


def test_postgres_url_is_accepted() -> None:
    url = "postgresql+asyncpg://econsult:pw@db.internal/econsult"
    s = Settings.from_env({"ECONSULT_DATABASE_URL": url})
    assert s.database_url == url and not s.is_sqlite


@pytest.mark.parametrize("raw", ["1", "true", "YES", "on", " On "])
def test_truthy_booleans(raw: str) -> None:
    assert Settings.from_env({"ECONSULT_COOKIE_SECURE": raw}).cookie_secure is True


@pytest.mark.parametrize("raw", ["0", "false", "No", "off"])
def test_falsy_booleans(raw: str) -> None:
    assert Settings.from_env({"ECONSULT_COOKIE_SECURE": raw}).cookie_secure is False


@pytest.mark.parametrize(("name", "raw", "expect"), [
    ("ECONSULT_MAX_IMAGE_MB", "lots", "whole number"),
    ("ECONSULT_MAX_IMAGE_MB", "2.5", "whole number"),
    ("ECONSULT_MAX_IMAGE_MB", "0", "between 1 and 200"),
    ("ECONSULT_MAX_IMAGE_MB", "100000", "between 1 and 200"),
    ("ECONSULT_SESSION_IDLE_MINUTES", "-5", "between"),
    ("ECONSULT_IMAGE_WORKERS", "four", "whole number"),
    ("ECONSULT_COOKIE_SECURE", "maybe", "1 or 0"),
    ("ECONSULT_TIMEZONE", "Mars/Olympus_Mons", "IANA time zone"),
    ("ECONSULT_TIMEZONE", "../../etc/passwd", "IANA time zone"),
    ("ECONSULT_DATABASE_URL", "mysql://root@localhost/econsult", "sqlite+aiosqlite://"),
    ("ECONSULT_DATABASE_URL", "sqlite:///var/econsult.db", "sqlite+aiosqlite://"),
    ("ECONSULT_BUSINESS_HOURS", "9-5", "08:00-17:00"),
    ("ECONSULT_BUSINESS_HOURS", "25:00-26:00", "impossible"),
    ("ECONSULT_BUSINESS_HOURS", "17:00-08:00", "start before"),
    ("ECONSULT_SMTP_URL", "mail.example.org", "smtp://"),
    ("ECONSULT_BLOB_URL", "/srv/blobs", "file://"),
    ("ECONSULT_PUBLIC_URL", "econsult.example.org", "http"),
])
def test_bad_values_fail_fast_naming_the_variable(name: str, raw: str, expect: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({name: raw})
    message = str(info.value)
    assert name in message
    assert expect in message
    assert raw in message  # says what it got


def test_secure_cookie_uses_the_host_prefix() -> None:
    secure = Settings.from_env({"ECONSULT_COOKIE_SECURE": "1"})
    assert secure.session_cookie_name == "__Host-econsult_session"
    assert Settings().with_(cookie_secure=True).session_cookie_name == "__Host-econsult_session"


def test_master_key_never_shows_in_repr() -> None:
    s = Settings.from_env({"ECONSULT_MASTER_KEY": "c2VjcmV0LWtleS1tYXRlcmlhbA=="})
    assert "c2VjcmV0" not in repr(s)


def test_settings_are_immutable_and_with_makes_a_copy() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.cookie_secure = True  # type: ignore[misc]  # frozen: the point of the test
    t = s.with_(max_image_mb=5)
    assert t.max_image_mb == 5 and s.max_image_mb == 25


def test_from_env_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setenv("ECONSULT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ECONSULT_MAX_IMAGE_MB", "7")
    s = Settings.from_env()
    assert s.data_dir == tmp_path and s.max_image_mb == 7


def test_draft_days() -> None:
    assert Settings.from_env({}).draft_days == 14
    assert Settings.from_env({"ECONSULT_DRAFT_DAYS": "30"}).draft_days == 30
    for raw, expect in (("0", "between 1 and 366"), ("a week", "whole number")):
        with pytest.raises(ConfigError, match=expect) as caught:
            Settings.from_env({"ECONSULT_DRAFT_DAYS": raw})
        assert "ECONSULT_DRAFT_DAYS" in str(caught.value)
