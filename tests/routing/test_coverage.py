"""Rota coverage: stretches where nobody, or only one person, is on call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from econsult.routing.coverage import Gap, GapKind, coverage_gaps
from econsult.routing.rota import OnCallInterval, Source, Tier

T = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def h(hours: float) -> datetime:
    return T + timedelta(hours=hours)


def iv(sid: int, start: float, end: float, tier: Tier = Tier.PRIMARY) -> OnCallInterval:
    return OnCallInterval(sid, tier, h(start), h(end), Source.WEEKLY)


def test_a_day_with_an_uncovered_night_and_a_single_covered_evening() -> None:
    rota = [iv(1, 8, 17), iv(2, 8, 17, Tier.BACKUP), iv(1, 17, 22)]
    assert coverage_gaps(rota, {1, 2}, h(0), h(24)) == [
        Gap(GapKind.UNCOVERED, h(0), h(8)),
        Gap(GapKind.SINGLE, h(17), h(22)),
        Gap(GapKind.UNCOVERED, h(22), h(24)),
    ]


def test_people_who_cannot_take_consults_do_not_cover() -> None:
    rota = [iv(1, 0, 24), iv(2, 0, 24)]
    assert coverage_gaps(rota, {2}, h(0), h(24)) == [Gap(GapKind.SINGLE, h(0), h(24))]
    assert coverage_gaps(rota, set(), h(0), h(24)) == [Gap(GapKind.UNCOVERED, h(0), h(24))]


def test_touching_stretches_of_one_person_are_one_cover() -> None:
    rota = [iv(1, 0, 12), iv(1, 12, 24, Tier.BACKUP), iv(2, 6, 18)]
    assert coverage_gaps(rota, {1, 2}, h(0), h(24)) == [
        Gap(GapKind.SINGLE, h(0), h(6)), Gap(GapKind.SINGLE, h(18), h(24))]


def test_handover_at_one_instant_is_not_a_gap() -> None:
    rota = [iv(1, 0, 12), iv(2, 12, 24)]
    assert coverage_gaps(rota, {1, 2}, h(0), h(24)) == [Gap(GapKind.SINGLE, h(0), h(24))]


@st.composite
def rotas(draw: st.DrawFn) -> list[OnCallInterval]:
    out = []
    for _ in range(draw(st.integers(0, 8))):
        start = draw(st.integers(-4, 30))
        length = draw(st.integers(1, 12))
        out.append(iv(draw(st.integers(1, 4)), start, start + length,
                      draw(st.sampled_from(list(Tier)))))
    return out


def _count_at(rota: list[OnCallInterval], eligible: set[int], at: datetime) -> int:
    return len({i.specialist_id for i in rota if i.specialist_id in eligible and i.covers(at)})


@settings(max_examples=200, deadline=None)
@given(rotas(), st.sets(st.integers(1, 4)))
def test_gaps_are_exactly_the_thin_stretches(rota: list[OnCallInterval],
                                            eligible: set[int]) -> None:
    gaps = coverage_gaps(rota, eligible, h(0), h(24))
    for gap in gaps:
        assert h(0) <= gap.starts_at < gap.ends_at <= h(24)
    for a, b in zip(gaps, gaps[1:], strict=False):
        assert a.ends_at <= b.starts_at  # disjoint, in order
        if a.kind is b.kind:
            assert a.ends_at < b.starts_at  # maximal: touching ones are joined
    # Every half hour of the day is in the right kind of gap, or covered twice or more.
    for step in range(48):
        at = h(step / 2)
        count = _count_at(rota, eligible, at)
        inside = [g.kind for g in gaps if g.starts_at <= at < g.ends_at]
        expected = {0: [GapKind.UNCOVERED], 1: [GapKind.SINGLE]}.get(count, [])
        assert inside == expected, (at, count, inside)
