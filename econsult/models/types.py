"""Column types that keep the invariants the rest of the code relies on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, LargeBinary
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend.

    SQLite has no time zone type and hands back naive values; PostgreSQL uses
    timestamptz. Naive datetimes are refused on the way in, so local wall-clock
    times can never be stored by mistake.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: store timezone-aware UTC values only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        # SQLite hands back the stored text: parse it once, here, instead of through
        # the DateTime processor and then the decorator (lists read thousands of these).
        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, str):
                try:  # stored naive UTC: read it as such, in one C call
                    return datetime.fromisoformat(value + "+00:00")
                except ValueError:
                    value = datetime.fromisoformat(value)
            aware: datetime = (value.replace(tzinfo=UTC) if value.tzinfo is None
                               else value.astimezone(UTC))
            return aware

        return process


class SealedBytes(TypeDecorator[bytes]):
    """A field encrypted with the keyring (see econsult.security.fields).

    Only sealed tokens are accepted: a plain str reaching this column is a bug that
    would write patient data in clear, so it raises instead.
    """

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, bytes) or not value[:1] == b"\x01":
            raise TypeError("encrypted column given a value that is not a sealed token")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> bytes | None:
        return None if value is None else bytes(value)
