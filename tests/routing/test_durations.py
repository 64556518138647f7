from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from econsult.routing.durations import InvalidDuration, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT30M", timedelta(minutes=30)),
        ("PT2H", timedelta(hours=2)),
        ("P2D", timedelta(days=2)),
        ("P7D", timedelta(days=7)),
        ("P1W", timedelta(weeks=1)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT1.5H", timedelta(minutes=90)),
        (" pt45m ", timedelta(minutes=45)),
    ],
)
def test_parses_fixed_length_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["P1Y", "P1M", "P1Y2D", "P0Y1M"])
def test_refuses_years_and_months(text: str) -> None:
    with pytest.raises(InvalidDuration, match="years or months"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["PT0S", "P0D", "PT", "-PT30M"])
def test_refuses_zero_and_negative(text: str) -> None:
    with pytest.raises(InvalidDuration, match="longer than zero"):
        parse_duration(text)


@pytest.mark.parametrize("text", ["30 minutes", "P", "2H", "PT2X", "P99999999999D"])
def test_refuses_text_that_is_not_a_duration(text: str) -> None:
    with pytest.raises(InvalidDuration, match="not an ISO 8601 duration such as PT30M"):
        parse_duration(text)


def test_refuses_empty_and_non_text() -> None:
    with pytest.raises(InvalidDuration, match="required"):
        parse_duration("  ")
    with pytest.raises(InvalidDuration, match="must be text"):
        parse_duration(30)  # type: ignore[arg-type]  # the wrong type on purpose


def test_invalid_duration_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_duration("P1M")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(minutes=30), "PT30M"),
        (timedelta(hours=2), "PT2H"),
        (timedelta(weeks=1), "P7D"),
        (timedelta(days=1, hours=2), "P1DT2H"),
        (timedelta(days=2, minutes=5, seconds=7), "P2DT5M7S"),
        (timedelta(seconds=1, microseconds=500_000), "PT1.5S"),
        (timedelta(microseconds=1), "PT0.000001S"),
    ],
)
def test_formats_canonically(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize("value", [timedelta(0), timedelta(minutes=-5)])
def test_format_refuses_non_positive(value: timedelta) -> None:
    with pytest.raises(InvalidDuration):
        format_duration(value)


@given(st.timedeltas(min_value=timedelta(microseconds=1), max_value=timedelta(days=3650)))
def test_format_then_parse_round_trips(value: timedelta) -> None:
    text = format_duration(value)
    assert parse_duration(text) == value
    assert format_duration(parse_duration(text)) == text
