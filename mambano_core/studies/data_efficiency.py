"""``mambano study data``: test error against the number of training samples, per model.

MambaNO's data-efficiency claim (Zheng et al., NeurIPS 2024): it reaches a given error with fewer
samples. Every (model, size) pair is trained with one protocol from the preset, on the first
``size`` samples of one training split (so smaller sets are subsets of larger ones), and scored on
the same test sets. The fitted slope of log(error) against log(samples) summarises each model.

The budget is the same number of optimiser steps for every size by default (``budget="steps"``):
the preset's epochs times its batches per epoch at its own training-set size. With the same number
of epochs instead (``budget="epochs"``), a set four times smaller also gets four times fewer steps,
and on a short budget the plot then measures optimisation, not data efficiency. The paper's
protocol (1000 epochs, early stopping) is ``budget="epochs"`` with the gpu-full preset.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mambano_core.data.benchmarks import get_benchmark_class
from mambano_core.data.store import generate_store
from mambano_core.errors import SpecError
from mambano_core.evaluation.evaluate import evaluate_run
from mambano_core.io_utils import atomic_write_text
from mambano_core.studies.plots import Curve, loglog_slope, plot_against, plot_validation
from mambano_core.studies.presets import Preset
from mambano_core.studies.reproduce import Log, Pair, Progress, plan_pairs, train_pairs, write_specs
from mambano_core.training.run_dir import RunDir

BUDGETS = ("steps", "epochs")


def _epochs_for(preset: Preset, benchmark: str, size: int, budget: str) -> tuple[int, int]:
    """(epochs, steps) of a run on ``size`` samples: the preset's steps (or epochs) for every size."""
    training = preset.training
    batch = training["batch_size"]
    reference = preset.counts_for(benchmark, get_benchmark_class(benchmark).reference_counts)["train"]
    if budget == "epochs":
        return training["epochs"], training["epochs"] * math.ceil(size / batch)
    steps = training["epochs"] * math.ceil(reference / batch)
    epochs = math.ceil(steps / math.ceil(size / batch))
    return epochs, epochs * math.ceil(size / batch)


def plan(preset: Preset, benchmark: str, models: Sequence[str], sizes: Sequence[int], out: Path,
         budget: str, overrides: Sequence[str] = ()) -> list[Pair]:
    """One pair per (model, size), named ``<model>-n<size>``."""
    pairs = []
    for model in models:
        for size in sizes:
            epochs, _ = _epochs_for(preset, benchmark, size, budget)
            scale = epochs / preset.training["epochs"]
            [pair] = plan_pairs(preset, [benchmark], [model], out, [
                f"data.n_train={size}", f"training.epochs={epochs}",
                f"training.patience={max(1, math.ceil(preset.training['patience'] * scale))}",
                f"output.name={model}-n{size}", *overrides])
            pairs.append(Pair(pair.benchmark, model, pair.spec, label=f"{model} n={size}"))
    return pairs


def data_study(
    preset: Preset,
    benchmark: str,
    models: Sequence[str],
    sizes: Sequence[int],
    out: str | Path,
    budget: str = "steps",
    jobs: int = 1,
    workers: int | None = None,
    overrides: Sequence[str] = (),
    log: Log = lambda message: None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train and score every (model, size); write the table, the log-log plot and the report."""
    if budget not in BUDGETS:
        raise SpecError(f"budget must be one of {', '.join(BUDGETS)}, not {budget!r}")
    sizes = sorted(set(sizes))
    if not sizes or sizes[0] < 1:
        raise SpecError(f"training-set sizes must be positive, got {list(sizes)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "study.json", json.dumps(
        {"study": "data", "preset": preset.name, "benchmark": benchmark, "models": list(models), "sizes": sizes,
         "budget": budget, "overrides": list(overrides)}, indent=2) + "\n")
    pairs = plan(preset, benchmark, models, sizes, out, budget, overrides)
    write_specs(pairs, out)
    counts = {**preset.counts_for(benchmark, get_benchmark_class(benchmark).reference_counts), "train": sizes[-1]}
    log(f"data: {benchmark} at {preset.resolution_for(benchmark)}^2, {counts}")
    generate_store(benchmark, out / "data", preset.resolution_for(benchmark), counts,
                   overrides=preset.generator_overrides.get(benchmark))
    train_pairs(pairs, jobs, log, progress=progress)
    rows = []
    for done, pair in enumerate(pairs, start=1):
        evaluation = evaluate_run(pair.run_dir, ood=True)
        summary = RunDir(pair.run_dir).summary()
        rows.append({"model": pair.model, "samples": int(pair.spec["data"]["n_train"]),
                     "epochs": summary["epochs_run"], "best_epoch": summary["best_epoch"],
                     "train_time_s": summary["train_time_s"],
                     **{f"{split}_{stat}": getattr(score, stat) for split, score in evaluation.scores.items()
                        for stat in ("median", "q25", "q75")}})
        if progress:
            progress("evaluate", done, len(pairs))
    return _write(rows, pairs, out, benchmark, budget)


def _write(rows: list[dict[str, Any]], pairs: list[Pair], out: Path, benchmark: str, budget: str) -> dict[str, Any]:
    slopes = {}
    for model in dict.fromkeys(r["model"] for r in rows):
        points = [(r["samples"], r["in_median"]) for r in rows if r["model"] == model]
        slopes[model] = loglog_slope(points)
    lines = ["| model | samples | epochs | In [q25, q75] | Out [q25, q75] | train time (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['samples']} | {r['epochs']} | {r['in_median']:.2f} [{r['in_q25']:.2f}, "
                     f"{r['in_q75']:.2f}] | {r['out_median']:.2f} [{r['out_q25']:.2f}, {r['out_q75']:.2f}] | "
                     f"{r['train_time_s']:.0f} |")
    lines += ["", "| model | slope of log(In error) against log(samples) |", "|---|---|"]
    lines += [f"| {m} | {'-' if s is None else f'{s:.2f}'} |" for m, s in slopes.items()]
    markdown = "\n".join(lines) + "\n"
    paths = {"markdown": out / "data.md", "json": out / "data.json"}
    atomic_write_text(paths["markdown"], markdown)
    atomic_write_text(paths["json"], json.dumps({"rows": rows, "slopes": slopes}, indent=2) + "\n")
    series = {m: [(r["samples"], r["in_median"]) for r in rows if r["model"] == m] for m in slopes}
    notes = {m: f"slope {s:.2f}" for m, s in slopes.items() if s is not None}
    paths["plot"] = plot_against(series, out / "data.png", "training samples", f"{benchmark}: In error against samples",
                                 loglog=True, notes=notes)
    curves = [Curve(p.name, p.run_dir, p.model) for p in pairs]
    paths["curves"] = plot_validation(curves, out / "curves.png")
    paths["curves_time"] = plot_validation(curves, out / "curves_time.png", against="hours")
    budget_text = ("the same number of optimiser steps for every size" if budget == "steps"
                   else "the same number of epochs for every size")
    report = [f"# Data efficiency on {benchmark}", "",
              f"Every model trained on the first n training samples with {budget_text}; median relative L1 "
              "error (%) on the same test sets.", "", markdown,
              "![error against samples](data.png)", "", "![validation curves](curves.png)", "",
              "![validation against time](curves_time.png)", ""]
    paths["report"] = out / "report.md"
    atomic_write_text(paths["report"], "\n".join(report))
    return {"rows": rows, "slopes": slopes, **paths}
