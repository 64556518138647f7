"""Rota coverage: where nobody, or only one person, is on call for a specialty.

Pure arithmetic over expanded on-call intervals (`rota.expand`, absences already cut
out). Only the specialists who may take consults count (`eligible`: active and
holding the specialty), so a disabled specialist's rota entries leave a gap. Whether
a gap matters for an urgency is judged against its target windows by the rota
service; this module only finds the stretches.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from econsult.routing._spans import Span, merge_all, subtract
from econsult.routing.rota import OnCallInterval
from econsult.routing.wallclock import require_aware


class GapKind(StrEnum):
    UNCOVERED = "uncovered"  # nobody on call: a new consult goes to the pool
    SINGLE = "single"  # one person on call: an unacknowledged consult has nobody next


@dataclass(frozen=True, slots=True)
class Gap:
    kind: GapKind
    starts_at: datetime
    ends_at: datetime

    @property
    def duration(self) -> timedelta:
        return self.ends_at - self.starts_at


def coverage_gaps(
    intervals: Iterable[OnCallInterval],
    eligible: Collection[int],
    window_start: datetime,
    window_end: datetime,
) -> list[Gap]:
    """Every stretch of [window_start, window_end) covered by nobody eligible, or by
    exactly one eligible person (whatever their tiers), in time order; each stretch is
    as long as possible (touching stretches of one kind are joined)."""
    window = (require_aware(window_start, "window_start"), require_aware(window_end, "window_end"))
    if window[1] <= window[0]:
        return []
    per_person: dict[int, list[Span]] = {}
    for iv in intervals:
        if iv.specialist_id in eligible:
            start, end = max(iv.starts_at_utc, window[0]), min(iv.ends_at_utc, window[1])
            if start < end:
                per_person.setdefault(iv.specialist_id, []).append((start, end))
    people = [merge_all(spans) for spans in per_person.values()]
    covered = merge_all(span for spans in people for span in spans)
    gaps = [Gap(GapKind.UNCOVERED, *span) for span in subtract(window, covered)]
    gaps += [Gap(GapKind.SINGLE, *span) for span in _covered_by_one(people)]
    return sorted(gaps, key=lambda g: (g.starts_at, g.kind.value))


def _covered_by_one(people: list[list[Span]]) -> list[Span]:
    """Where exactly one person's spans cover the instant (a sweep over the ends)."""
    edges: list[tuple[datetime, int]] = []
    for spans in people:
        for start, end in spans:
            edges += [(start, 1), (end, -1)]
    edges.sort()
    found: list[Span] = []
    count, since = 0, None
    for at, step in edges:
        if count == 1 and since is not None and since < at:
            found.append((since, at))
        count += step
        since = at
    return merge_all(found)
