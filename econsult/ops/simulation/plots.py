"""PNG plots of a simulated month, drawn with matplotlib's Agg canvas.

Figures are built as `matplotlib.figure.Figure` on a `FigureCanvasAgg`, never through
pyplot: nothing registers with pyplot's figure manager, so there is no GUI backend to
pick, no global state to leak between runs, and nothing left open to close.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from econsult.ops.simulation.outcomes import ACK_WINDOW, URGENCY_ORDER, Arm, Outcome
from econsult.routing.targets import Urgency

COLOURS = {Arm.POLICY: "#1b6ca8", Arm.BASELINE: "#c8553d"}
_FLOOR_MINUTES = 0.1  # a log axis cannot show zero; an instant acknowledgement sits here


def _figure(width: float = 7.0, height: float = 4.2) -> Figure:
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _label(text: str) -> str:
    # Labels are often e-mail addresses: the part before "@" is enough to tell them
    # apart. A "$" pair would be parsed as mathtext, and a control character has no glyph.
    name = text.split("@", 1)[0] or text
    return "".join(c if c.isprintable() else "?" for c in name).replace("$", r"\$")


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, format="png")
    return path


def ack_cdf(rows: Iterable[Outcome], path: Path, *, urgency: Urgency = Urgency.URGENT) -> Path:
    """Share of consults acknowledged within t, per arm, as a step curve over all of them
    (so a curve that stops below 1 shows the ones never acknowledged)."""
    figure = _figure()
    axes = figure.add_subplot()
    by_arm: dict[Arm, list[float | None]] = {arm: [] for arm in Arm}
    for row in rows:
        if row.urgency == urgency:
            seconds = row.seconds_to(row.acknowledged_at)
            by_arm[row.arm].append(None if seconds is None else seconds / 60)
    for arm, values in by_arm.items():
        if not values:
            continue
        done = sorted(max(v, _FLOOR_MINUTES) for v in values if v is not None)
        if done:
            shares = [(i + 1) / len(values) for i in range(len(done))]
            axes.step(done, shares, where="post", color=COLOURS[arm],
                      label=f"{arm.value} (n={len(values)}, never {len(values) - len(done)})")
    window = ACK_WINDOW.total_seconds() / 60
    axes.axvline(window, color="#555555", linestyle="--", linewidth=1)
    axes.text(window, 0.02, f" {window:.0f} min", color="#555555")
    axes.set_xscale("log")
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("minutes from submission to acknowledgement (log scale)")
    axes.set_ylabel("share acknowledged")
    axes.set_title(f"Time to acknowledge, {urgency.value}")
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="lower right")
    return _save(figure, path)


def answer_boxplot(rows: Iterable[Outcome], path: Path) -> Path:
    """Hours from submission to answer, a box per urgency and arm (answered ones only)."""
    figure = _figure()
    axes = figure.add_subplot()
    hours: dict[tuple[Urgency, Arm], list[float]] = {}
    for row in rows:
        seconds = row.seconds_to(row.answered_at)
        if seconds is not None:
            hours.setdefault((row.urgency, row.arm), []).append(max(seconds / 3600, 1e-3))
    data, positions, colours, ticks, labels = [], [], [], [], []
    present = [urgency for urgency in URGENCY_ORDER if any(k[0] == urgency for k in hours)]
    for u, urgency in enumerate(present):
        ticks.append(3 * u + 1.5)
        labels.append(urgency.value)
        for a, arm in enumerate(Arm):
            values = hours.get((urgency, arm))
            if values:
                data.append(values)
                positions.append(3 * u + 1 + a)
                colours.append(COLOURS[arm])
    if data:
        boxes = axes.boxplot(data, positions=positions, widths=0.8, patch_artist=True,
                             showfliers=False)
        for patch, colour in zip(boxes["boxes"], colours, strict=True):
            patch.set_facecolor(colour)
            patch.set_alpha(0.6)
        axes.set_yscale("log")
        axes.set_xticks(ticks, labels)
        handles = [axes.plot([], [], color=COLOURS[arm], linewidth=6, alpha=0.6)[0]
                   for arm in Arm]
        axes.legend(handles, [arm.value for arm in Arm], loc="upper left")
    else:
        axes.text(0.5, 0.5, "no consult was answered", ha="center", transform=axes.transAxes)
    axes.set_ylabel("hours to answer (log scale)")
    axes.set_title("Time to answer by urgency")
    return _save(figure, path)


def load_bars(
    rows: Iterable[Outcome], path: Path, *, roster: Mapping[str, str] | None = None
) -> Path:
    """Consults owned at the end, per specialist and arm, grouped by specialty."""
    counts: dict[Arm, Counter[str]] = {arm: Counter() for arm in Arm}
    specialty_of = dict(roster or {})
    for row in rows:
        if row.specialist is not None:
            counts[row.arm][row.specialist] += 1
            specialty_of.setdefault(row.specialist, row.specialty)
    names = sorted(specialty_of, key=lambda n: (specialty_of[n], n))
    figure = _figure(width=max(7.0, 0.32 * len(names) + 2), height=4.6)
    axes = figure.add_subplot()
    for a, arm in enumerate(Arm):
        xs = [i + (a - 0.5) * 0.4 for i in range(len(names))]
        axes.bar(xs, [counts[arm][n] for n in names], width=0.4, color=COLOURS[arm],
                 label=arm.value)
    axes.set_xticks(range(len(names)), [_label(n) for n in names], rotation=90, fontsize=7)
    axes.set_ylabel("consults owned")
    axes.set_title("Load per specialist")
    if names:
        axes.legend(loc="upper right")
    return _save(figure, path)


def write_plots(
    rows: Sequence[Outcome], out_dir: Path, *, roster: Mapping[str, str] | None = None
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    return [
        ack_cdf(rows, out_dir / "ack_cdf_urgent.png"),
        answer_boxplot(rows, out_dir / "answer_time_boxplot.png"),
        load_bars(rows, out_dir / "load_per_specialist.png", roster=roster),
    ]
