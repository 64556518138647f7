"""Business time: open hours on working days in the program's zone, minus statutory holidays.

Each local day's opening and closing are turned into UTC instants once per year and
kept with a running total of open time, so a span costs O(1) per year it crosses
rather than O(days) or O(seconds): bulk turnaround over a million consults stays cheap.
DST is handled by that conversion, not by assuming a day has 24 hours.

Time is counted in whole microseconds internally so that the pieces of a span add
up to the whole exactly; the public API speaks float seconds and timedeltas.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

from econsult.config import Settings
from econsult.routing.wallclock import to_instant

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_MON_TO_FRI: tuple[int, ...] = (0, 1, 2, 3, 4)


def _us(dt: datetime) -> int:
    """Microseconds since the epoch of an aware datetime, whatever its zone."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got {dt!r}")
    return (dt - _EPOCH) // _US


def _from_us(us: int, like: datetime) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(like.tzinfo)


def _split_region(region: str | None) -> tuple[str | None, str | None]:
    """'CA-BC' -> ('CA', 'BC'); 'CA' -> ('CA', None); None or '' -> no holidays."""
    if not region:
        return None, None
    country, _, subdiv = region.strip().partition("-")
    return country.upper(), (subdiv.upper() or None)


@dataclass(frozen=True, slots=True)
class _Year:
    """One calendar year: per day-of-year open/close instants and the running total."""

    jan1: int  # proleptic ordinal of 1 January, to index days without building dates
    opens: list[int]  # µs since epoch; a closed day has open == close (local midnight)
    closes: list[int]
    cum: list[int]  # cum[i] = open µs in days 0..i-1; len(cum) == days + 1


class BusinessCalendar:
    """Open hours [start, end) in `tz` on `workdays` (0 = Monday), less the region's holidays.

    `region` is "CA-BC" (country and subdivision, as the `holidays` library names
    them), a bare country code such as "CA", or None for no holidays.
    """

    def __init__(
        self,
        tz: ZoneInfo,
        start: time = time(8, 0),
        end: time = time(17, 0),
        workdays: Iterable[int] = _MON_TO_FRI,
        region: str | None = "CA-BC",
    ) -> None:
        if start >= end:
            raise ValueError(f"business hours must start before they end ({start}-{end})")
        days = frozenset(workdays)
        if not days or not days <= set(range(7)):
            raise ValueError(f"workdays must be a non-empty subset of 0..6 (got {sorted(days)})")
        self.tz = tz
        self.start = start
        self.end = end
        self.workdays = days
        self.region = region
        self._country, self._subdiv = _split_region(region)
        self._years: dict[int, _Year] = {}
        self._holidays: dict[int, frozenset[date]] = {}
        # Fail at construction, not on the first consult, if the region is unknown.
        self.holidays_in(date.today().year)

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar({self.tz.key!r}, {self.start}-{self.end}, "
            f"workdays={sorted(self.workdays)}, region={self.region!r})"
        )

    # -- days -----------------------------------------------------------------

    def holidays_in(self, year: int) -> frozenset[date]:
        """Statutory holidays (including observed days) falling in `year`; cached."""
        cached = self._holidays.get(year)
        if cached is not None:
            return cached
        if self._country is None:
            found: frozenset[date] = frozenset()
        else:
            try:
                # Neighbouring years too: an observed day can spill over New Year.
                table = holidays.country_holidays(
                    self._country, subdiv=self._subdiv, years=(year - 1, year, year + 1)
                )
            except NotImplementedError as exc:
                raise ValueError(f"unknown holiday region {self.region!r}: {exc}") from None
            found = frozenset(d for d in table if d.year == year)
        self._holidays[year] = found
        return found

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.workdays and day not in self.holidays_in(day.year)

    @property
    def business_day(self) -> timedelta:
        """Nominal length of one business day (end - start on the wall clock)."""
        return datetime.combine(date.min, self.end) - datetime.combine(date.min, self.start)

    def business_window(self, window: timedelta) -> timedelta:
        """A target window as open time: each whole day in it is one business day.

        So a business-time target of "P2D" (routing's `Target(..., business_time=True)`)
        is 2 x (end - start) of open time, and "P1DT4H" is one business day plus four
        open hours. A timedelta cannot tell "PT48H" from "P2D"; both mean two days.
        """
        if window < timedelta(0):
            raise ValueError(f"a window must not be negative (got {window})")
        return self.business_day * window.days + (window - timedelta(days=window.days))

    def _year(self, year: int) -> _Year:
        built = self._years.get(year)
        if built is None:
            built = self._years[year] = self._build_year(year)
        return built

    def _build_year(self, year: int) -> _Year:
        first = date(year, 1, 1)
        n = (date(year + 1, 1, 1) - first).days
        opens: list[int] = []
        closes: list[int] = []
        cum = [0]
        for i in range(n):
            day = first + timedelta(days=i)
            if self.is_business_day(day):
                # The same DST rule as the rota, so a shift and opening hours agree.
                o = _us(to_instant(day, self.start, self.tz))
                c = max(o, _us(to_instant(day, self.end, self.tz)))
            else:
                o = c = _us(to_instant(day, time(0), self.tz))
            opens.append(o)
            closes.append(c)
            cum.append(cum[-1] + c - o)
        return _Year(first.toordinal(), opens, closes, cum)

    def _local_day(self, dt: datetime) -> tuple[_Year, int]:
        day = dt.astimezone(self.tz).date()
        yr = self._year(day.year)
        return yr, day.toordinal() - yr.jan1

    def _days_us(self, first: date, stop: date) -> int:
        """Open µs in the whole local days [first, stop)."""
        if first >= stop:
            return 0
        y1 = self._year(first.year)
        i1 = first.toordinal() - y1.jan1
        if stop.year == first.year:
            return y1.cum[stop.toordinal() - y1.jan1] - y1.cum[i1]
        total = y1.cum[-1] - y1.cum[i1]
        for year in range(first.year + 1, stop.year):
            total += self._year(year).cum[-1]
        y2 = self._year(stop.year)
        return total + y2.cum[stop.toordinal() - y2.jan1]

    # -- instants and spans ---------------------------------------------------

    def is_business_instant(self, dt: datetime) -> bool:
        yr, i = self._local_day(dt)
        return yr.opens[i] <= _us(dt) < yr.closes[i]

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        """Open time from `a` to `b` in seconds; negative when `b` is before `a`.

        Antisymmetric, so f(a, b) + f(b, c) == f(a, c) for any order of a, b, c.
        """
        ua, ub = _us(a), _us(b)
        if ua > ub:
            return -self._between_us(b, ub, a, ua) / 1e6
        return self._between_us(a, ua, b, ub) / 1e6

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """`business_seconds_between` as an exact timedelta (whole microseconds)."""
        ua, ub = _us(a), _us(b)
        if ua > ub:
            return -timedelta(microseconds=self._between_us(b, ub, a, ua))
        return timedelta(microseconds=self._between_us(a, ua, b, ub))

    def _between_us(self, a: datetime, ua: int, b: datetime, ub: int) -> int:
        ya, ia = self._local_day(a)
        yb, ib = self._local_day(b)
        if ya is yb and ia == ib:
            return max(0, min(ub, ya.closes[ia]) - max(ua, ya.opens[ia]))
        head = max(0, ya.closes[ia] - max(ua, ya.opens[ia]))
        tail = max(0, min(ub, yb.closes[ib]) - yb.opens[ib])
        middle = self._days_us(date.fromordinal(ya.jan1 + ia + 1), date.fromordinal(yb.jan1 + ib))
        return head + middle + tail

    def add_business_time(self, start: datetime, delta: timedelta) -> datetime:
        """The earliest instant at which `delta` of open time has passed since `start`.

        A start outside open hours begins counting at the next opening; a deadline
        that uses up a day exactly falls at that day's closing, not the next opening.
        The result is in `start`'s zone.
        """
        if delta < timedelta(0):
            raise ValueError(f"business time to add must not be negative (got {delta})")
        remaining = delta // _US
        u = _us(start)
        if remaining == 0:
            return start
        yr, i = self._local_day(start)
        from_ = max(u, yr.opens[i])
        if from_ < yr.closes[i]:
            if remaining <= yr.closes[i] - from_:
                return _from_us(from_ + remaining, start)
            remaining -= yr.closes[i] - from_
        # Find the later day whose running total first reaches what is still owed.
        target = yr.cum[i + 1] + remaining
        while target > yr.cum[-1]:
            target -= yr.cum[-1]
            yr = self._year(date.fromordinal(yr.jan1).year + 1)
        j = bisect_left(yr.cum, target)
        return _from_us(yr.opens[j - 1] + target - yr.cum[j - 1], start)


def program_calendar(settings: Settings) -> BusinessCalendar:
    """The program's business calendar, as configured (zone, hours, holidays)."""
    start, end = settings.business_hours
    return BusinessCalendar(settings.timezone, start, end, region=settings.holidays_region)
