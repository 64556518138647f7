from datetime import date, time

import pytest

from econsult.routing.wallclock import require_aware, to_instant
from tests.factories import VANCOUVER, utc


def test_ordinary_time() -> None:
    assert to_instant(date(2026, 6, 1), time(9, 0), VANCOUVER) == utc(2026, 6, 1, 16, 0)


def test_time_skipped_by_spring_forward_resolves_to_the_end_of_the_gap() -> None:
    # 02:00-03:00 does not exist on 2026-03-08; the clock jumps to 03:00 PDT at 10:00 UTC.
    assert to_instant(date(2026, 3, 8), time(2, 30), VANCOUVER) == utc(2026, 3, 8, 10, 0)
    assert to_instant(date(2026, 3, 8), time(2, 0), VANCOUVER) == utc(2026, 3, 8, 10, 0)
    assert to_instant(date(2026, 3, 8), time(1, 59), VANCOUVER) == utc(2026, 3, 8, 9, 59)
    assert to_instant(date(2026, 3, 8), time(3, 0), VANCOUVER) == utc(2026, 3, 8, 10, 0)


def test_repeated_time_at_fall_back_takes_the_first_occurrence() -> None:
    # 01:30 happens twice on 2026-11-01: first in PDT (08:30 UTC), then PST (09:30 UTC).
    assert to_instant(date(2026, 11, 1), time(1, 30), VANCOUVER) == utc(2026, 11, 1, 8, 30)


def test_mapping_is_monotonic_across_the_gap() -> None:
    day = date(2026, 3, 8)
    walls = [time(h, m) for h in range(0, 5) for m in range(0, 60, 10)]
    instants = [to_instant(day, w, VANCOUVER) for w in walls]
    assert instants == sorted(instants)


def test_refuses_a_zoned_wall_time() -> None:
    with pytest.raises(ValueError):
        to_instant(date(2026, 1, 1), time(9, 0, tzinfo=VANCOUVER), VANCOUVER)


def test_require_aware() -> None:
    from datetime import datetime

    with pytest.raises(ValueError, match="at must carry a time zone"):
        require_aware(datetime(2026, 1, 1), "at")
    assert require_aware(datetime(2026, 1, 1, tzinfo=VANCOUVER), "at") == utc(2026, 1, 1, 8)
