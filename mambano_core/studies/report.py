"""Tables and a short Markdown report with plots for a reproduction study."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mambano_core.evaluation.evaluate import RunEvaluation, evaluate_run
from mambano_core.evaluation.tables import build_table, write_tables
from mambano_core.io_utils import atomic_write_text
from mambano_core.studies.plots import Curve, plot_validation
from mambano_core.training.run_dir import RunDir


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
    curves = plot_validation([Curve(p.model, p.run_dir, p.benchmark) for p in pairs], out / "curves.png")
    hours = plot_validation([Curve(p.model, p.run_dir, p.benchmark) for p in pairs], out / "curves_time.png",
                            against="hours")
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
    lines += ["", "![validation curves](curves.png)", "",
              "Validation error against cumulative training wall time (accuracy per CPU- or GPU-hour):", "",
              "![validation against time](curves_time.png)", ""]
    report = out / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return {"markdown": md, "csv": csv_path, "json": json_path, "report": report, "curves": curves,
            "curves_time": hours, "table": table}
