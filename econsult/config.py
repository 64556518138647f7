"""Settings, read once from the ECONSULT_* environment variables, cast and validated.

Anything wrong is reported at start-up with the variable's name and what it expects,
never discovered later on a request.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from econsult.clock import UnknownZone, zone


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be 1 or 0 (got {raw!r})")


def _int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number (got {raw!r})") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high} (got {value})")
    return value


def _zone(name: str, raw: str) -> ZoneInfo:
    try:
        return zone(raw)
    except UnknownZone:
        raise ConfigError(f"{name} must be an IANA time zone such as America/Vancouver "
                          f"(got {raw!r})") from None


_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


def _hours(name: str, raw: str) -> tuple[time, time]:
    m = _HOURS.match(raw.strip())
    if not m:
        raise ConfigError(f"{name} must look like 08:00-17:00 (got {raw!r})")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    try:
        start, end = time(h1, m1), time(h2, m2)
    except ValueError:
        raise ConfigError(f"{name} holds an impossible time (got {raw!r})") from None
    if start >= end:
        raise ConfigError(f"{name} must start before it ends (got {raw!r})")
    return start, end


def _database_url(name: str, raw: str) -> str:
    if not raw.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise ConfigError(
            f"{name} must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (got {raw!r})"
        )
    return raw


# The roles of econsult.models.Role, named here because config sits below the models.
ROLES: tuple[str, ...] = ("gp", "specialist", "staff", "admin", "delegate")


def _roles(name: str, raw: str) -> frozenset[str]:
    """`none`, `all`, or role names separated by commas or spaces."""
    words = {w for w in re.split(r"[\s,]+", raw.strip().lower()) if w}
    if words == {"none"}:
        return frozenset()
    if words == {"all"}:
        return frozenset(ROLES)
    unknown = sorted(words - set(ROLES))
    if unknown or not words:
        raise ConfigError(f"{name} must be none, all, or roles from {', '.join(ROLES)} "
                          f"(got {raw!r})")
    return frozenset(words)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str = ""
    master_key: str | None = field(default=None, repr=False)
    timezone: ZoneInfo = field(default_factory=lambda: zone("America/Vancouver"))
    cookie_secure: bool = False
    max_image_mb: int = 25
    max_attachment_mb: int = 10
    max_attachment_pages: int = 500
    smtp_url: str | None = None
    smtp_from: str = "econsult@localhost"
    blob_url: str | None = None
    public_url: str | None = None
    session_idle_minutes: int = 15
    session_max_hours: int = 12
    # Unsent drafts older than this are removed with their photos (ECONSULT_DRAFT_DAYS).
    draft_days: int = 14
    login_max_failures: int = 5
    login_window_minutes: int = 15
    holidays_region: str = "CA-BC"
    business_hours: tuple[time, time] = (time(8, 0), time(17, 0))
    image_workers: int = 2
    # Processes keep photo decoding from stalling the event loop (measured in
    # bench/images_pool.py) and survive a decoder crash on a hostile file.
    image_pool: str = "process"
    scheduler_enabled: bool = True
    # Roles that must use a second factor (ECONSULT_MFA_REQUIRED); empty turns it off.
    mfa_required: frozenset[str] = frozenset(ROLES)
    # Minutes a specialist may record on one answer (Ocean's cap); more is refused.
    max_answer_minutes: int = 60
    # A signed audit checkpoint this often (seconds) once the log has moved; 0: never
    # (`econsult audit checkpoint` still works).
    audit_checkpoint_seconds: int = 3600

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(
                self, "database_url", f"sqlite+aiosqlite:///{self.data_dir / 'econsult.db'}"
            )

    @property
    def key_file(self) -> Path:
        return self.data_dir / "keys.json"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def max_image_bytes(self) -> int:
        return self.max_image_mb * 1024 * 1024

    @property
    def max_attachment_bytes(self) -> int:
        return self.max_attachment_mb * 1024 * 1024

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless it is Secure,
        # path=/ and host-only, so a sibling subdomain cannot plant or read it.
        return "__Host-econsult_session" if self.cookie_secure else "econsult_session"

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else None

        kwargs: dict[str, Any] = {}
        if (v := get("ECONSULT_DATA_DIR")) is not None:
            kwargs["data_dir"] = Path(v)
        if (v := get("ECONSULT_DATABASE_URL")) is not None:
            kwargs["database_url"] = _database_url("ECONSULT_DATABASE_URL", v)
        if (v := get("ECONSULT_MASTER_KEY")) is not None:
            kwargs["master_key"] = v
        if (v := get("ECONSULT_TIMEZONE")) is not None:
            kwargs["timezone"] = _zone("ECONSULT_TIMEZONE", v)
        if (v := get("ECONSULT_COOKIE_SECURE")) is not None:
            kwargs["cookie_secure"] = _bool("ECONSULT_COOKIE_SECURE", v)
        if (v := get("ECONSULT_MAX_IMAGE_MB")) is not None:
            kwargs["max_image_mb"] = _int("ECONSULT_MAX_IMAGE_MB", v, 1, 200)
        if (v := get("ECONSULT_MAX_ATTACHMENT_MB")) is not None:
            kwargs["max_attachment_mb"] = _int("ECONSULT_MAX_ATTACHMENT_MB", v, 1, 100)
        if (v := get("ECONSULT_MAX_ATTACHMENT_PAGES")) is not None:
            kwargs["max_attachment_pages"] = _int("ECONSULT_MAX_ATTACHMENT_PAGES", v, 1, 5000)
        if (v := get("ECONSULT_SMTP_URL")) is not None:
            if not v.startswith(("smtp://", "smtps://")):
                raise ConfigError(f"ECONSULT_SMTP_URL must start with smtp:// or smtps:// "
                                  f"(got {v!r})")
            kwargs["smtp_url"] = v
        if (v := get("ECONSULT_SMTP_FROM")) is not None:
            kwargs["smtp_from"] = v
        if (v := get("ECONSULT_BLOB_URL")) is not None:
            if not v.startswith(("file://", "s3://", "http://", "https://")):
                raise ConfigError(f"ECONSULT_BLOB_URL must be a file://, s3:// or http(s):// "
                                  f"URL (got {v!r})")
            kwargs["blob_url"] = v
        if (v := get("ECONSULT_PUBLIC_URL")) is not None:
            if not v.startswith(("http://", "https://")):
                raise ConfigError(f"ECONSULT_PUBLIC_URL must be an http(s) URL (got {v!r})")
            kwargs["public_url"] = v.rstrip("/")
        if (v := get("ECONSULT_SESSION_IDLE_MINUTES")) is not None:
            kwargs["session_idle_minutes"] = _int("ECONSULT_SESSION_IDLE_MINUTES", v, 1, 24 * 60)
        if (v := get("ECONSULT_DRAFT_DAYS")) is not None:
            kwargs["draft_days"] = _int("ECONSULT_DRAFT_DAYS", v, 1, 366)
        if (v := get("ECONSULT_SESSION_MAX_HOURS")) is not None:
            kwargs["session_max_hours"] = _int("ECONSULT_SESSION_MAX_HOURS", v, 1, 24 * 7)
        if (v := get("ECONSULT_LOGIN_MAX_FAILURES")) is not None:
            kwargs["login_max_failures"] = _int("ECONSULT_LOGIN_MAX_FAILURES", v, 1, 1000)
        if (v := get("ECONSULT_HOLIDAYS")) is not None:
            kwargs["holidays_region"] = v
        if (v := get("ECONSULT_BUSINESS_HOURS")) is not None:
            kwargs["business_hours"] = _hours("ECONSULT_BUSINESS_HOURS", v)
        if (v := get("ECONSULT_IMAGE_WORKERS")) is not None:
            kwargs["image_workers"] = _int("ECONSULT_IMAGE_WORKERS", v, 1, 64)
        if (v := get("ECONSULT_IMAGE_POOL")) is not None:
            if v not in ("process", "thread"):
                raise ConfigError(f"ECONSULT_IMAGE_POOL must be process or thread (got {v!r})")
            kwargs["image_pool"] = v
        if (v := get("ECONSULT_MFA_REQUIRED")) is not None:
            kwargs["mfa_required"] = _roles("ECONSULT_MFA_REQUIRED", v)
        if (v := get("ECONSULT_MAX_ANSWER_MINUTES")) is not None:
            kwargs["max_answer_minutes"] = _int("ECONSULT_MAX_ANSWER_MINUTES", v, 1, 24 * 60)
        if (v := get("ECONSULT_AUDIT_CHECKPOINT_SECONDS")) is not None:
            kwargs["audit_checkpoint_seconds"] = _int("ECONSULT_AUDIT_CHECKPOINT_SECONDS", v, 0,
                                                      7 * 24 * 3600)
        return cls(**kwargs)
