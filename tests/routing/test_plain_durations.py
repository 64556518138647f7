"""Target windows typed in plain words, as staff write them on /targets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.routing.durations import InvalidDuration, parse_duration
from econsult.routing.plain_durations import PlainDuration, format_plain, parse_plain

H, D, M = timedelta(hours=1), timedelta(days=1), timedelta(minutes=1)


@pytest.mark.parametrize(("text", "value", "business"), [
    ("2 hours", 2 * H, None),
    ("30 minutes", 30 * M, None),
    ("30 min", 30 * M, None),
    ("2 business days", 2 * D, True),
    ("1 working day", D, True),
    ("7 calendar days", 7 * D, False),
    ("1 week", 7 * D, None),
    ("an hour", H, None),
    ("half an hour", 30 * M, None),
    ("1.5 hours", 90 * M, None),
    ("1 day 4 hours", D + 4 * H, None),
    ("1 business day and 4 hours", D + 4 * H, True),
    ("2h30m", 2 * H + 30 * M, None),
    ("  Two Hours ", 2 * H, None),
    ("PT2H", 2 * H, None),
    ("p2d", 2 * D, None),
    ("8 seconds", timedelta(seconds=8), None),
])
def test_plain_words_become_windows(text: str, value: timedelta, business: bool | None) -> None:
    assert parse_plain(text) == PlainDuration(value, business)


@pytest.mark.parametrize(("text", "message"), [
    ("", "required"),
    ("soon", "not a duration"),
    ("2 fortnights", "not a unit"),
    ("1 month", "months or years"),
    ("P1M", "years or months"),
    ("0 hours", "longer than zero"),
    ("2 business weeks", "in days, not weeks"),
    ("1 business day 2 calendar hours", "one clock"),
    ("120 days", "longer than 90 days"),
    ("many hours", "not a duration"),
])
def test_what_cannot_be_a_window_says_why(text: str, message: str) -> None:
    with pytest.raises(InvalidDuration, match=message):
        parse_plain(text)


def test_iso_text_of_a_plain_window() -> None:
    assert parse_plain("2 business days").iso == "P2D"
    assert parse_plain("90 minutes").iso == "PT1H30M"


@pytest.mark.parametrize(("value", "business", "words"), [
    (2 * H, False, "2 hours"),
    (30 * M, False, "30 minutes"),
    (D, True, "1 business day"),
    (2 * D, True, "2 business days"),
    (D + 4 * H, False, "1 day 4 hours"),
    (4 * H, True, "4 business hours"),
    (7 * D, False, "7 days"),
])
def test_windows_in_words(value: timedelta, business: bool, words: str) -> None:
    assert format_plain(value, business=business) == words


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 90 * 24 * 3600), st.booleans())
def test_words_read_back_as_the_same_window_and_clock(seconds: int, business: bool) -> None:
    value = timedelta(seconds=seconds)
    parsed = parse_plain(format_plain(value, business=business))
    assert parsed.value == value
    assert parsed.business is (True if business else None)
    assert parse_duration(parsed.iso) == value
