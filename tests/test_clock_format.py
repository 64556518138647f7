"""One clock for everyone: the one format, and the zone rules the browser formats with
(from the tzdata package, as the server computes, whatever the OS or browser holds)."""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest
from starlette.applications import Starlette

from econsult.app import create_app
from econsult.clock import (
    RULE_YEARS,
    ManualClock,
    format_local,
    zone,
    zone_data_version,
    zone_rules,
)
from econsult.config import Settings
from econsult.http.state import app_state
from tests.factories import CHEAP_PASSWORDS

VANCOUVER = zone("America/Vancouver")
TORONTO = zone("America/Toronto")


def offset_by_rules(rules: tuple[tuple[int, int, str], ...], moment: datetime) -> tuple[int, str]:
    seconds = int(moment.timestamp())
    found = [r for r in rules if r[0] <= seconds][-1]
    return found[1], found[2]


def test_the_2026_vancouver_rule_is_pinned_in_the_browsers_rules() -> None:
    assert zone_data_version() >= "2026"
    rules = zone_rules(VANCOUVER)
    changes_2026 = [(datetime.fromtimestamp(r[0], UTC), r[1], r[2]) for r in rules
                    if datetime(2026, 1, 1, tzinfo=UTC).timestamp() <= r[0]
                    < datetime(2027, 1, 1, tzinfo=UTC).timestamp()]
    # 8 March 2026, 02:00 PST: UTC-7 from then on. On 1 November only the name changes
    # (PDT -> MST): the clocks do not go back.
    assert changes_2026 == [(datetime(2026, 3, 8, 10, tzinfo=UTC), -7 * 3600, "PDT"),
                            (datetime(2026, 11, 1, 9, tzinfo=UTC), -7 * 3600, "MST")]
    assert all(r[1] == -7 * 3600 for r in rules if r[0] >= changes_2026[0][0].timestamp())
    # Toronto still falls back on 1 November 2026.
    toronto = [(r[1], r[2]) for r in zone_rules(TORONTO)
               if datetime(2026, 10, 1, tzinfo=UTC).timestamp() <= r[0]
               < datetime(2026, 12, 1, tzinfo=UTC).timestamp()]
    assert toronto == [(-5 * 3600, "EST")]


def test_the_rules_reproduce_the_servers_offsets_everywhere_in_range() -> None:
    rng = random.Random(13)
    start = datetime(RULE_YEARS[0], 1, 1, tzinfo=UTC)
    span = (datetime(RULE_YEARS[1], 1, 1, tzinfo=UTC) - start).total_seconds()
    for tz in (VANCOUVER, TORONTO, zone("Europe/London"), zone("Australia/Sydney")):
        rules = zone_rules(tz)
        samples = [start + timedelta(seconds=rng.uniform(0, span)) for _ in range(2000)]
        # and either side of every change
        samples += [datetime.fromtimestamp(r[0] + d, UTC) for r in rules[1:] for d in (-1, 0)]
        for moment in samples:
            local = moment.astimezone(tz)
            offset = local.utcoffset()
            assert offset is not None
            assert offset_by_rules(rules, moment) == (int(offset.total_seconds()),
                                                      local.tzname()), (tz, moment)


def test_one_format_with_the_zone_where_it_matters() -> None:
    due = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # Tue 1 Dec 18:00 at UTC-7
    assert format_local(due, VANCOUVER) == "Tue 01 Dec 2026 18:00"
    assert format_local(due, VANCOUVER, with_zone=True) == "Tue 01 Dec 2026 18:00 MST"
    # The old rule (UTC-8 after 1 November) would say 17:00: the hour the issue saw.
    assert format_local(due, TORONTO, with_zone=True) == "Tue 01 Dec 2026 20:00 EST"
    assert format_local(None, VANCOUVER) == ""


async def test_the_zone_data_version_is_logged_at_start_up(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    application = create_app(settings, clock=ManualClock(), passwords=CHEAP_PASSWORDS)
    with caplog.at_level(logging.INFO, logger="econsult"):
        async with application.router.lifespan_context(application):
            pass
    started = [r.getMessage() for r in caplog.records]
    assert any(f"zone data {zone_data_version()}" in m and "America/Vancouver" in m
               for m in started), started


def test_pages_carry_the_zone_rules_the_browser_formats_with(
    app: Starlette, settings: Settings
) -> None:
    templates = app_state(app).templates
    rules = json.loads(str(templates.env.globals["tz_rules"]))
    assert [tuple(r) for r in rules] == list(zone_rules(settings.timezone))
