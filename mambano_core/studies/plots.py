"""The studies' figures: validation curves (per epoch and per training hour), error against grid
resolution, and error against the number of training samples."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mambano_core.io_utils import atomic_path
from mambano_core.training.run_dir import RunDir


@dataclass(frozen=True)
class Curve:
    """One run's validation curve: its label (one colour per label) and its panel (``group``)."""

    label: str
    run_dir: Path
    group: str


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: Path, dpi: int = 90) -> Path:
    """Write ``fig`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    _pyplot().close(fig)
    return path


def _panels(count: int, columns: int) -> tuple[Any, Any]:
    plt = _pyplot()
    columns = max(1, min(columns, count))
    rows = -(-count // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows + 0.5), squeeze=False)
    for ax in axes.ravel()[count:]:
        ax.set_visible(False)
    return fig, axes


def plot_validation(curves: Sequence[Curve], path: Path, against: str = "epoch", columns: int = 4) -> Path:
    """Validation error (mean relative L1, %) of each run against its epoch, or against its
    cumulative training wall time (``against="hours"``: which operator is best for the time you
    have). One panel per group, one colour per label, one shared legend."""
    from matplotlib.lines import Line2D

    groups: dict[str, list[Curve]] = defaultdict(list)
    for curve in curves:
        groups[curve.group].append(curve)
    colour = {label: f"C{i % 10}" for i, label in enumerate(dict.fromkeys(c.label for c in curves))}
    fig, axes = _panels(len(groups), columns)
    for ax, (group, members) in zip(axes.ravel(), groups.items()):
        for curve in members:
            records = RunDir(curve.run_dir).metrics()
            if against == "hours":
                xs, total = [], 0.0
                for record in records:
                    total += record["time_s"] / 3600
                    xs.append(total)
            else:
                xs = [r["epoch"] for r in records]
            ax.semilogy(xs, [r["val_rel_l1_mean"] for r in records], color=colour[curve.label])
        ax.set_title(group)
        ax.set_xlabel("training wall time (h)" if against == "hours" else "epoch")
        ax.set_ylabel("validation rel. L1 (%)")
    handles = [Line2D([], [], color=c, label=label) for label, c in colour.items()]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    rows = axes.shape[0]
    fig.tight_layout(rect=(0, 0.5 / (3.2 * rows + 0.5), 1, 1))
    return save_figure(fig, path)


def plot_against(
    series: dict[str, list[tuple[float, float]]],
    path: Path,
    xlabel: str,
    title: str,
    marks: Sequence[float] = (),
    loglog: bool = False,
    notes: dict[str, str] | None = None,
) -> Path:
    """One line per series label through its (x, median error %) points; vertical lines at ``marks``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, (label, points) in enumerate(series.items()):
        points = sorted(points)
        text = label + (f" ({notes[label]})" if notes and label in notes else "")
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", color=f"C{i % 10}", label=text, ms=4)
    for mark in marks:
        ax.axvline(mark, color="grey", ls=":", lw=1)
    if loglog:
        ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("median relative L1 (%)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def loglog_slope(points: Sequence[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(error) against log(x); None with fewer than two points."""
    usable = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(usable) < 2:
        return None
    mx = sum(x for x, _ in usable) / len(usable)
    my = sum(y for _, y in usable) / len(usable)
    var = sum((x - mx) ** 2 for x, _ in usable)
    return sum((x - mx) * (y - my) for x, y in usable) / var if var else None
