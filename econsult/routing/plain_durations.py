"""Target windows in plain words: "2 hours", "30 min", "2 business days", "1 day 4 hours".

Staff type these on /targets; they are stored as ISO 8601 (`durations.format_duration`)
with the target's clock (calendar or business time). ISO 8601 text is accepted too.
"business" (or "working") before a unit asks for the business-time clock; "calendar"
asks for the calendar clock; saying neither leaves the clock to the form. Months and
years are refused, as in ISO input: their length varies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from econsult.routing.durations import InvalidDuration, format_duration, parse_duration

_UNITS: dict[str, timedelta] = {}
for _names, _length in (
    (("s", "sec", "secs", "second", "seconds"), timedelta(seconds=1)),
    (("m", "min", "mins", "minute", "minutes"), timedelta(minutes=1)),
    (("h", "hr", "hrs", "hour", "hours"), timedelta(hours=1)),
    (("d", "day", "days"), timedelta(days=1)),
    (("w", "wk", "wks", "week", "weeks"), timedelta(weeks=1)),
):
    for _name in _names:
        _UNITS[_name] = _length
_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                 "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "twelve": 12,
                 "half": 0.5}
_VARYING = ("month", "months", "year", "years", "mo", "yr", "yrs")
_PART = re.compile(r"(\d+(?:\.\d+)?|[a-z]+)\s*(business|working|calendar)?\s*([a-z]+)")
_EXAMPLES = 'such as "30 minutes", "2 hours", "2 business days" or "7 days"'
MAX_WINDOW = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class PlainDuration:
    value: timedelta
    # True: business time was asked for; False: calendar time; None: not said.
    business: bool | None

    @property
    def iso(self) -> str:
        return format_duration(self.value)


def parse_plain(text: object) -> PlainDuration:
    """A positive window of at most MAX_WINDOW, from plain words or ISO 8601."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidDuration(f"a duration is required, {_EXAMPLES}")
    cleaned = text.strip().lower()
    if cleaned.startswith("p"):
        return _checked(parse_duration(cleaned), None, text)
    rest = re.sub(r"\s*(,|\band\b)\s*", " ", cleaned).replace("half an hour", "30 minutes")
    total, clocks, pos = timedelta(0), set(), 0
    while pos < len(rest):
        match = _PART.match(rest, pos)
        if not match:
            raise InvalidDuration(f"{text!r} is not a duration {_EXAMPLES}")
        number, clock, unit = match.groups()
        total += _amount(number, text) * _unit(unit, text)
        if clock:
            if unit in _UNITS and _UNITS[unit] == timedelta(weeks=1) and clock != "calendar":
                raise InvalidDuration(f"{text!r}: count business time in days, not weeks "
                                      '(e.g. "10 business days")')
            clocks.add(clock == "calendar")
        pos = match.end()
        while pos < len(rest) and rest[pos] == " ":
            pos += 1
    if len(clocks) > 1:
        raise InvalidDuration(f"{text!r} mixes business and calendar time; use one clock")
    business = None if not clocks else not clocks.pop()
    return _checked(total, business, text)


def _amount(number: str, text: str) -> float:
    if number[0].isdigit():
        return float(number)
    if number in _NUMBER_WORDS:
        return _NUMBER_WORDS[number]
    raise InvalidDuration(f"{text!r} is not a duration {_EXAMPLES}")


def _unit(unit: str, text: str) -> timedelta:
    if unit in _VARYING:
        raise InvalidDuration(f"{text!r} uses months or years, whose length varies; "
                              "use days or weeks instead")
    if unit not in _UNITS:
        raise InvalidDuration(f"{text!r}: {unit!r} is not a unit (minutes, hours, days or "
                              "weeks)")
    return _UNITS[unit]


def _checked(value: timedelta, business: bool | None, text: str) -> PlainDuration:
    if value <= timedelta(0):
        raise InvalidDuration(f"{text!r} must be longer than zero")
    if value > MAX_WINDOW:
        raise InvalidDuration(f"{text!r} is longer than {MAX_WINDOW.days} days")
    # Whole seconds: what a target window can sensibly be, and what ISO text shows.
    return PlainDuration(timedelta(seconds=round(value.total_seconds())), business)


def format_plain(value: timedelta, *, business: bool = False) -> str:
    """The words for a window, as staff would type it: "2 hours", "1 business day 4 hours"."""
    if value <= timedelta(0):
        raise InvalidDuration(f"a duration must be longer than zero (got {value})")
    days = value.days
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts: list[str] = []
    for amount, word in ((days, "day"), (hours, "hour"), (minutes, "minute"),
                         (seconds, "second")):
        if amount:
            # The clock is named once, on the largest unit.
            clock = "business " if business and not parts else ""
            parts.append(f"{amount} {clock}{word}{'' if amount == 1 else 's'}")
    return " ".join(parts)
