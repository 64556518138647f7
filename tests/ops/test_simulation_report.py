"""The simulation's outputs: statistics on hand-built rows, the table, the CSVs (and
their formula safety), the PNG plots and the progress bar."""

from __future__ import annotations

import csv
import io
import math
import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from econsult.clock import zone
from econsult.ops.simulation.plots import write_plots
from econsult.ops.simulation.progress import Progress
from econsult.ops.simulation.report import (
    CONSULT_COLUMNS,
    SUMMARY_COLUMNS,
    Arm,
    Outcome,
    cell,
    load_spread,
    render_table,
    summarise,
    write_outputs,
)
from econsult.routing import Urgency

T0 = datetime(2026, 3, 3, 18, tzinfo=UTC)
PNG = b"\x89PNG\r\n\x1a\n"
HOSTILE = '=HYPERLINK("http://evil.example/x","click")'


def _row(arm: str, urgency: str, ack: float | None, first: float | None,
         answer: float | None, *, within: bool | None = None, specialist: str | None = "a",
         specialty: str = "cardiology", escalations: int = 0) -> Outcome:
    def at(minutes: float | None) -> datetime | None:
        return None if minutes is None else T0 + timedelta(minutes=minutes)
    return Outcome(arm=Arm(arm), urgency=Urgency(urgency), specialty=specialty,
                   submitted_at=T0, acknowledged_at=at(ack), first_response_at=at(first),
                   answered_at=at(answer), owner_at=T0, escalations=escalations,
                   specialist=specialist, target_seconds=7200.0, within_target=within)


ROWS = [
    _row("policy", "urgent", 10, 15, 20, within=True),
    _row("policy", "urgent", 20, 25, 30, within=True, specialist="b"),
    _row("policy", "urgent", 40, 60, 150, within=False, escalations=1),
    _row("policy", "urgent", None, None, None, specialist=None, escalations=1),
    _row("baseline", "routine", 60, 24 * 60, 24 * 60, within=True),
    _row("baseline", "routine", 60, 8 * 24 * 60, 8 * 24 * 60, within=False, specialist="b"),
]


def test_summary_on_hand_built_rows() -> None:
    policy, baseline = summarise(ROWS)
    assert (policy.arm, policy.urgency, policy.n) == (Arm.POLICY, Urgency.URGENT, 4)
    assert policy.acknowledged_in_window_pct == 50.0  # 10 and 20 min of four; 40 and never
    assert policy.first_response_median_s == 25 * 60  # nearest rank: 2nd of [15, 25, 60]
    assert policy.first_response_p90_s == 60 * 60
    assert policy.answer_median_s == 30 * 60
    assert policy.answer_p90_s == 150 * 60
    assert policy.within_target_pct == 50.0  # unanswered counts against
    assert policy.within_7d_pct == 75.0
    assert policy.escalated_pct == 50.0
    assert policy.unanswered == 1
    assert (baseline.urgency, baseline.n, baseline.within_7d_pct) == (Urgency.ROUTINE, 2, 50.0)
    assert baseline.answer_median_s == 24 * 3600


def test_load_spread_counts_roster_members_with_no_consults() -> None:
    spreads = load_spread(ROWS, roster={"a": "cardiology", "b": "cardiology", "c": "cardiology"})
    policy_all = next(s for s in spreads if s.arm is Arm.POLICY and s.specialty is None)
    assert (policy_all.specialists, policy_all.consults, policy_all.max) == (3, 3, 2)
    assert policy_all.mean == 1.0
    assert policy_all.max_over_mean == 2.0
    assert math.isclose(policy_all.cv, statistics.pstdev([2, 1, 0]) / 1.0)
    assert {s.specialty for s in spreads} == {None, "cardiology"}


def test_table_is_aligned_and_names_every_group() -> None:
    table = render_table(summarise(ROWS), load_spread(ROWS))
    block = table.split("\n\n")[0].splitlines()
    assert block[0].split()[:3] == ["arm", "urgency", "n"]
    assert len({len(line) for line in block}) == 1  # right-aligned to one width
    assert "policy    urgent" in table and "baseline  routine" in table
    assert "50.0%" in table and "25m" in table and "max/mean" in table


def test_consults_csv_headers_iso_utc_times_numbers_and_empties(tmp_path: Path) -> None:
    vancouver = datetime(2026, 3, 3, 10, tzinfo=zone("America/Vancouver"))
    row = Outcome(Arm.BASELINE, Urgency.ROUTINE, "nephrology", vancouver, None, None, None,
                  None, 0, None, 604800.0, None)
    written = write_outputs([*ROWS, row], tmp_path)
    text = (tmp_path / "consults.csv").read_text()
    records = list(csv.DictReader(io.StringIO(text)))
    assert tuple(records[0]) == CONSULT_COLUMNS
    assert len(records) == len(ROWS) + 1
    last = records[-1]
    assert last["submitted_at"] == "2026-03-03T18:00:00+00:00"
    assert datetime.fromisoformat(last["submitted_at"]).utcoffset() == timedelta(0)
    assert last["acknowledged_at"] == last["answered_at"] == last["within_target"] == ""
    assert ',0,"",604800.0,""' in text.splitlines()[-1]  # numbers go out bare
    assert written.table.startswith("arm")
    assert {p.name for p in written.files} >= {"consults.csv", "summary.csv"}


def test_summary_csv_one_row_per_arm_and_urgency(tmp_path: Path) -> None:
    write_outputs(ROWS, tmp_path)
    with (tmp_path / "summary.csv").open() as handle:
        records = list(csv.DictReader(handle))
    assert tuple(records[0]) == SUMMARY_COLUMNS
    assert [(r["arm"], r["urgency"]) for r in records] == [("policy", "urgent"),
                                                          ("baseline", "routine")]
    assert float(records[0]["acknowledged_within_30min_pct"]) == 50.0
    assert float(records[1]["answered_within_7d_pct"]) == 50.0


@pytest.mark.parametrize("hostile", [HOSTILE, "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_hostile_text_is_neutralised_in_every_csv(tmp_path: Path, hostile: str) -> None:
    rows = [_row("policy", "urgent", 5, 9, 12, within=True, specialty=hostile,
                 specialist=hostile)]
    write_outputs(rows, tmp_path, roster={hostile: hostile})
    for name in ("consults.csv", "load.csv"):
        with (tmp_path / name).open(newline="") as handle:
            cells = [c for record in csv.reader(handle) for c in record]
        assert hostile not in cells
        assert "'" + hostile in cells
        assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in cells)


def test_cells_keep_numbers_as_numbers() -> None:
    assert cell(-3) == -3 and cell(2.5) == 2.5 and cell(True) == "true"
    assert cell(float("nan")) == "" and cell(None) == ""
    assert cell("-3") == "'-3"  # text that looks like a formula is text


def test_plots_are_png_files_and_leave_no_figure_open(tmp_path: Path) -> None:
    rows = [*ROWS, _row("baseline", "urgent", 3, 8, 25, within=True, specialist="$x$ $")]
    paths = write_plots(rows, tmp_path / "plots")
    assert [p.name for p in paths] == ["ack_cdf_urgent.png", "answer_time_boxplot.png",
                                       "load_per_specialist.png"]
    for path in paths:
        assert path.read_bytes()[:8] == PNG
        assert path.stat().st_size > 2000
    assert plt.get_fignums() == []


def test_plots_of_an_empty_run_still_render(tmp_path: Path) -> None:
    for path in write_plots([], tmp_path):
        assert path.read_bytes()[:8] == PNG


def test_progress_is_silent_off_a_terminal_unless_forced() -> None:
    quiet, loud = io.StringIO(), io.StringIO()
    with Progress(4, desc="policy", stream=quiet) as bar:
        bar.update(2)
        bar.note(pooled=1)
    with Progress(4, desc="policy", stream=loud, enabled=True) as bar:
        bar.update(2)
    assert quiet.getvalue() == ""
    assert "policy" in loud.getvalue() and "2/4" in loud.getvalue()
