"""Tables and a short Markdown report with plots for a reproduction study."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mambano_core.evaluation.evaluate import RunEvaluation, evaluate_run
from mambano_core.evaluation.tables import build_table, write_tables
from mambano_core.io_utils import atomic_path, atomic_write_text
from mambano_core.training.run_dir import RunDir


def _read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    return RunDir(run_dir).metrics()


def _plot_curves(pairs: list[Any], path: Path, columns: int = 4) -> None:
    """Validation error against epoch: one panel per benchmark (``columns`` per row), one colour per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    by_bench: dict[str, list[Any]] = defaultdict(list)
    for pair in pairs:
        by_bench[pair.benchmark].append(pair)
    colour = {model: f"C{i % 10}" for i, model in enumerate(dict.fromkeys(pair.model for pair in pairs))}
    columns = min(columns, len(by_bench))
    rows = -(-len(by_bench) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows + 0.5), squeeze=False)
    for ax in axes.ravel()[len(by_bench):]:
        ax.set_visible(False)
    for ax, (bench, group) in zip(axes.ravel(), by_bench.items()):
        for pair in group:
            records = _read_metrics(pair.run_dir)
            ax.semilogy([r["epoch"] for r in records], [r["val_rel_l1_mean"] for r in records], color=colour[pair.model])
        ax.set_title(bench)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation rel. L1 (%)")
    handles = [Line2D([], [], color=c, label=model) for model, c in colour.items()]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.5 / (3.2 * rows + 0.5), 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)


def _summaries(pairs: list[Any]) -> list[dict[str, Any]]:
    return [RunDir(pair.run_dir).summary() for pair in pairs]


def write_results(pairs: list[Any], preset: Any, out: Path, log: Any, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Evaluate every pair In/Out; write results.md/.csv/.json, curves.png and report.md."""
    evaluations: list[RunEvaluation] = []
    for pair in pairs:
        log(f"evaluate {pair.benchmark} x {pair.model}")
        evaluations.append(evaluate_run(pair.run_dir, ood=True))
    table = build_table(evaluations, ood=True)
    md, csv_path = write_tables(table, out, stem="results")
    json_path = out / "results.json"
    atomic_write_text(json_path, json.dumps([ev.to_dict() for ev in evaluations], indent=2))
    curves = out / "curves.png"
    _plot_curves(pairs, curves)
    lines = [
        f"# Reproduction study: preset `{preset.name}`", "",
        preset.description, "",
        *([f"Every run spec changed by: `{' '.join(overrides)}`.", ""] if overrides else []),
        "Median relative L1 error (%) on the normalised fields, In = in-distribution test set, "
        "Out = out-of-distribution test set; best per column in bold.", "",
        table.to_markdown(), "## Training", "",
        "| benchmark | model | parameters | epochs | best epoch | stop | time (s) |", "|---|---|---|---|---|---|---|",
    ]
    for s in _summaries(pairs):
        lines.append(f"| {s['benchmark']} | {s['model']} | {s['parameters']:,} | {s['epochs_run']} | "
                     f"{s['best_epoch']} | {s['stop_reason']} | {s['train_time_s']:.0f} |")
    lines += ["", "![validation curves](curves.png)", ""]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return {"markdown": md, "csv": csv_path, "json": json_path, "report": report, "curves": curves, "table": table}
