"""Coverage warnings for a rota week, judged against each urgency's target windows.

A stretch with nobody on call matters for an urgency when a consult sent at its start
would wait longer than the urgency's acknowledge window (measured on the target's own
clock: a night has no business hours, so it never delays a business-time target). A
stretch with one person on call ("no backup") matters the same way: an unacknowledged
consult then has nobody to escalate to. Only people who may take the consults count
(`eligible`), so a disabled specialist's rota leaves a gap.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from econsult.routing.coverage import Gap, GapKind, coverage_gaps
from econsult.routing.plain_durations import format_plain
from econsult.routing.rota import OnCallInterval
from econsult.routing.targets import Target, Urgency
from econsult.turnaround.calendar import BusinessCalendar

# Gaps are found over the week and a day either side, so a night that starts on
# Sunday and runs into Monday shows whole.
MARGIN = timedelta(days=1)


@dataclass(frozen=True)
class CoverageWarning:
    kind: GapKind
    urgency: Urgency
    starts_at: datetime
    ends_at: datetime
    text: str  # "urgent dermatology uncovered Mon 22:00–08:00"
    detail: str  # how long, against which window


def week_warnings(
    intervals: Iterable[OnCallInterval], eligible: Collection[int], *, specialty: str,
    targets: Mapping[Urgency, Target], calendar: BusinessCalendar, tz: ZoneInfo,
    start: datetime, end: datetime,
) -> list[CoverageWarning]:
    """`intervals` must cover [start - MARGIN, end + MARGIN)."""
    found = []
    for gap in coverage_gaps(intervals, eligible, start - MARGIN, end + MARGIN):
        if gap.ends_at <= start or gap.starts_at >= end:
            continue
        for urgency in Urgency:
            target = targets.get(urgency)
            if target is not None and _matters(gap, target, calendar):
                found.append(_warning(gap, urgency, target, specialty, tz))
    return found


def _matters(gap: Gap, target: Target, calendar: BusinessCalendar) -> bool:
    if target.business_time:
        length = calendar.business_time_between(gap.starts_at, gap.ends_at)
        return length >= calendar.business_window(target.acknowledge_within)
    return gap.duration >= target.acknowledge_within


def _warning(gap: Gap, urgency: Urgency, target: Target, specialty: str,
             tz: ZoneInfo) -> CoverageWarning:
    label = urgency.value.replace("_", "-")
    what = "uncovered" if gap.kind is GapKind.UNCOVERED else "has no backup"
    text = f"{label} {specialty} {what} {span_text(gap.starts_at, gap.ends_at, tz)}"
    clock = " business" if target.business_time else ""
    hours = gap.duration.total_seconds() / 3600
    consequence = ("a consult sent then waits in the pool" if gap.kind is GapKind.UNCOVERED
                   else "an unacknowledged consult then has nobody to escalate to")
    detail = (f"{hours:.0f} h; {consequence}, against {label} targets of acknowledging "
              f"within {format_plain(target.acknowledge_within, business=bool(clock))} and "
              f"answering within {format_plain(target.respond_within, business=bool(clock))}")
    return CoverageWarning(gap.kind, urgency, gap.starts_at, gap.ends_at, text, detail)


def span_text(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """"Mon 22:00–08:00" (ends the next day), "Sat 17:00–Mon 08:00" (later still)."""
    a, b = start.astimezone(tz), end.astimezone(tz)
    days = (b.date() - a.date()).days
    if b.hour == 0 and b.minute == 0 and days == 1:
        end_text = "24:00"
    elif days <= 1:
        end_text = b.strftime("%H:%M")
    else:
        end_text = b.strftime("%a %H:%M")
    return f"{a.strftime('%a %H:%M')}–{end_text}"
