"""Per-consult outcomes of both arms, summarised per arm and urgency, as a terminal
table and as CSV files that are safe to open in a spreadsheet.

Definitions: every percentage is of all consults in the group, so a consult never
acknowledged or never answered counts against it (in the baseline a missed alert is
never picked up, and that is the point of the comparison). Medians and p90 are over
the consults that reached that step, nearest-rank as on the dashboard
(`turnaround.stats`), with the count that did not reach it shown beside them. Load is
consults per final specialist; its spread is max/mean and the coefficient of variation
(population standard deviation / mean) within each specialty, where a team shares one
rota, and across everyone.
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path

from econsult.ops.simulation import plots
from econsult.ops.simulation.outcomes import (
    ACK_WINDOW,
    ONTARIO_WINDOW,
    URGENCY_ORDER,
    Arm,
    Outcome,
)
from econsult.routing.targets import Urgency
from econsult.routing.wallclock import require_aware
from econsult.turnaround.stats import nearest_rank

__all__ = [
    "Arm",
    "GroupSummary",
    "LoadSpread",
    "Outcome",
    "Written",
    "CONSULT_COLUMNS",
    "LOAD_COLUMNS",
    "SUMMARY_COLUMNS",
    "cell",
    "load_spread",
    "render_table",
    "summarise",
    "write_consults_csv",
    "write_load_csv",
    "write_outputs",
    "write_summary_csv",
]

# OWASP "CSV Injection": a spreadsheet runs a cell starting with these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class GroupSummary:
    arm: Arm
    urgency: Urgency
    n: int
    acknowledged_in_window_pct: float
    first_response_median_s: float | None
    first_response_p90_s: float | None
    answer_median_s: float | None
    answer_p90_s: float | None
    within_target_pct: float
    within_7d_pct: float
    escalated_pct: float
    unanswered: int


@dataclass(frozen=True, slots=True)
class LoadSpread:
    arm: Arm
    specialty: str | None  # None: everyone in the arm
    specialists: int
    consults: int
    mean: float
    max: int
    max_over_mean: float
    cv: float


def summarise(rows: Iterable[Outcome]) -> list[GroupSummary]:
    """One summary per arm and urgency present, policy first, urgent first."""
    groups: dict[tuple[Arm, Urgency], list[Outcome]] = defaultdict(list)
    for row in rows:
        groups[(row.arm, row.urgency)].append(row)
    return [
        _group(arm, urgency, groups[(arm, urgency)])
        for arm in Arm
        for urgency in URGENCY_ORDER
        if (arm, urgency) in groups
    ]


def _group(arm: Arm, urgency: Urgency, rows: Sequence[Outcome]) -> GroupSummary:
    n = len(rows)
    ack = [s for r in rows if (s := r.seconds_to(r.acknowledged_at)) is not None]
    first = sorted(s for r in rows if (s := r.seconds_to(r.first_response_at)) is not None)
    answer = sorted(s for r in rows if (s := r.seconds_to(r.answered_at)) is not None)
    window, week = ACK_WINDOW.total_seconds(), ONTARIO_WINDOW.total_seconds()
    return GroupSummary(
        arm=arm,
        urgency=urgency,
        n=n,
        acknowledged_in_window_pct=_pct(sum(s <= window for s in ack), n),
        first_response_median_s=nearest_rank(first, 0.5),
        first_response_p90_s=nearest_rank(first, 0.9),
        answer_median_s=nearest_rank(answer, 0.5),
        answer_p90_s=nearest_rank(answer, 0.9),
        within_target_pct=_pct(sum(r.within_target is True for r in rows), n),
        within_7d_pct=_pct(sum(s <= week for s in answer), n),
        escalated_pct=_pct(sum(r.escalations > 0 for r in rows), n),
        unanswered=n - len(answer),
    )


def _pct(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def load_spread(
    rows: Iterable[Outcome], *, roster: Mapping[str, str] | None = None
) -> list[LoadSpread]:
    """Per arm: the spread across everyone, then within each specialty. `roster` maps
    every specialist label to their specialty, so those given nothing count as zero;
    without it only specialists who ended up owning a consult are counted."""
    counts: dict[Arm, Counter[str]] = {arm: Counter() for arm in Arm}
    specialty_of = dict(roster or {})
    seen: set[Arm] = set()
    for row in rows:
        seen.add(row.arm)
        if row.specialist is not None:
            counts[row.arm][row.specialist] += 1
            specialty_of.setdefault(row.specialist, row.specialty)
    spreads: list[LoadSpread] = []
    for arm in (a for a in Arm if a in seen):
        loads = {name: counts[arm][name] for name in specialty_of}
        spreads.append(_spread(arm, None, list(loads.values())))
        for specialty in sorted(set(specialty_of.values())):
            team = [c for name, c in loads.items() if specialty_of[name] == specialty]
            spreads.append(_spread(arm, specialty, team))
    return spreads


def _spread(arm: Arm, specialty: str | None, loads: Sequence[int]) -> LoadSpread:
    total = sum(loads)
    mean = total / len(loads) if loads else 0.0
    top = max(loads, default=0)
    cv = statistics.pstdev(loads) / mean if mean else 0.0
    return LoadSpread(arm, specialty, len(loads), total, mean, top,
                      top / mean if mean else 0.0, cv)


def render_table(summaries: Sequence[GroupSummary], spreads: Sequence[LoadSpread] = ()) -> str:
    """The terminal table: one line per arm and urgency, then the load spread."""
    window = f"ack<={_duration(ACK_WINDOW.total_seconds())}"
    header = ("arm", "urgency", "n", window, "1st med", "1st p90", "ans med", "ans p90",
              "in target", "<=7d", "escalated", "unanswered")
    lines = [header]
    for s in summaries:
        lines.append((
            s.arm.value, s.urgency.value, str(s.n), _percent(s.acknowledged_in_window_pct),
            _duration(s.first_response_median_s), _duration(s.first_response_p90_s),
            _duration(s.answer_median_s), _duration(s.answer_p90_s),
            _percent(s.within_target_pct), _percent(s.within_7d_pct),
            _percent(s.escalated_pct), str(s.unanswered),
        ))
    text = _align(lines)
    overall = [s for s in spreads if s.specialty is None]
    if overall:
        load = [("load", "specialists", "consults", "mean", "max", "max/mean", "cv")]
        load += [(s.arm.value, str(s.specialists), str(s.consults), f"{s.mean:.1f}",
                  str(s.max), f"{s.max_over_mean:.2f}", f"{s.cv:.2f}") for s in overall]
        text += "\n\n" + _align(load)
    return text


def _align(lines: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    # Labels left, figures right, as a reader scans them.
    return "\n".join(
        "  ".join(cell.ljust(w) if i < 2 else cell.rjust(w)
                  for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
        for row in lines
    )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f}m"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _percent(value: float) -> str:
    return f"{value:.1f}%"


CONSULT_COLUMNS = ("arm", "urgency", "specialty", "submitted_at", "acknowledged_at",
                   "first_response_at", "answered_at", "owner_at", "escalations",
                   "specialist", "target_seconds", "within_target")
SUMMARY_COLUMNS = ("arm", "urgency", "n", "acknowledged_within_30min_pct",
                   "first_response_median_seconds", "first_response_p90_seconds",
                   "answer_median_seconds", "answer_p90_seconds",
                   "answered_within_target_pct", "answered_within_7d_pct",
                   "escalated_pct", "unanswered")
LOAD_COLUMNS = ("arm", "specialty", "specialists", "consults", "mean", "max",
                "max_over_mean", "cv")


def write_consults_csv(rows: Iterable[Outcome], path: Path) -> Path:
    return _write(path, CONSULT_COLUMNS, ([getattr(r, c) for c in CONSULT_COLUMNS] for r in rows))


def write_summary_csv(summaries: Iterable[GroupSummary], path: Path) -> Path:
    fields = ("arm", "urgency", "n", "acknowledged_in_window_pct", "first_response_median_s",
              "first_response_p90_s", "answer_median_s", "answer_p90_s", "within_target_pct",
              "within_7d_pct", "escalated_pct", "unanswered")
    return _write(path, SUMMARY_COLUMNS, ([getattr(s, f) for f in fields] for s in summaries))


def write_load_csv(spreads: Iterable[LoadSpread], path: Path) -> Path:
    return _write(path, LOAD_COLUMNS, ([getattr(s, c) for c in LOAD_COLUMNS] for s in spreads))


def _write(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    # QUOTE_NONNUMERIC: numbers go out bare (so "-3" stays a number), every text cell is
    # quoted, so a separator inside one cannot start a new cell in any locale.
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows([cell(v) for v in row] for row in rows)
    return path


def cell(value: object) -> str | int | float:
    """A CSV cell: numbers as numbers, times as ISO 8601 UTC, text formula-safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value, 3) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return require_aware(value, "time").astimezone(UTC).isoformat()
    text = value.value if isinstance(value, Enum) else str(value)
    return "'" + text if str(text).startswith(_FORMULA_START) else str(text)


@dataclass(frozen=True, slots=True)
class Written:
    table: str
    files: tuple[Path, ...]


def write_outputs(
    rows: Sequence[Outcome], out_dir: Path, *, roster: Mapping[str, str] | None = None
) -> Written:
    """Everything `econsult simulate` leaves in DIR: the CSVs and the plots, and the
    table it prints."""
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = summarise(rows)
    spreads = load_spread(rows, roster=roster)
    files = (
        write_consults_csv(rows, out_dir / "consults.csv"),
        write_summary_csv(summaries, out_dir / "summary.csv"),
        write_load_csv(spreads, out_dir / "load.csv"),
        *plots.write_plots(rows, out_dir, roster=roster),
    )
    return Written(render_table(summaries, spreads), files)
