"""Summaries read straight from rows: the stored text of a timestamp turned into the
same ISO 8601 text `datetime.isoformat()` gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from econsult.consults.views import iso_utc
from econsult.models.types import UTCDateTime

_SQLITE = sqlite.dialect()
# The column type's whole bind step on SQLite: UTCDateTime's own, then DATETIME's.
_to_text = UTCDateTime().dialect_impl(_SQLITE).bind_processor(_SQLITE)


def _stored_text(value: datetime) -> str:
    """What SQLAlchemy writes to SQLite for this value through a UTCDateTime column."""
    assert _to_text is not None
    text = _to_text(value)
    assert isinstance(text, str)
    return text


@given(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.just(UTC)))
def test_stored_sqlite_text_gives_isoformat(value: datetime) -> None:
    assert iso_utc(_stored_text(value)) == value.isoformat()


def test_whole_seconds_leave_out_the_fraction_like_isoformat() -> None:
    value = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    assert _stored_text(value) == "2026-11-23 09:30:00.000000"
    assert iso_utc(_stored_text(value)) == "2026-11-23T09:30:00+00:00" == value.isoformat()


def test_datetimes_and_other_text_are_converted_to_utc() -> None:
    local = datetime(2026, 3, 2, 9, tzinfo=timezone(timedelta(hours=-8)))
    assert iso_utc(local) == "2026-03-02T17:00:00+00:00"
    assert iso_utc(datetime(2026, 3, 2, 17)) == "2026-03-02T17:00:00+00:00"  # naive = UTC
    assert iso_utc("2026-03-02T09:00:00-08:00") == "2026-03-02T17:00:00+00:00"
    assert iso_utc(None) is None
