"""``mambano study ablation``: MambaNO and its variants under one protocol.

The ablation of MambaNO's parts (Zheng et al., NeurIPS 2024): without the Mamba integration
(convolution integration only), without the convolution integration (Mamba integration only), with
plain pointwise activations instead of alias-free ones, and with one scan direction instead of
four. Each variant is a named configuration of ``mambano``
(:data:`mambano_core.models.mambano.CONFIGURATIONS`); the table gives its parameter count, its
test errors at the training grid, and at one other grid (natively and resampled to the training grid) to show what each part
does for resolution invariance.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mambano_core.data.store import Store
from mambano_core.errors import MambanoError, SpecError
from mambano_core.evaluation.evaluate import evaluate_run
from mambano_core.io_utils import atomic_write_text
from mambano_core.studies.plots import Curve, plot_validation
from mambano_core.studies.presets import Preset
from mambano_core.studies.reproduce import Log, Pair, Progress, generate_data, plan_pairs, train_pairs, write_specs
from mambano_core.training.run_dir import RunDir

#: The variants, by their names in MambaNO's CONFIGURATIONS, in the table's order.
VARIANTS: tuple[str, ...] = ("authors", "no-mamba", "no-conv", "pointwise-activations", "one-direction")


def plan(preset: Preset, benchmark: str, variants: Sequence[str], out: Path, overrides: Sequence[str] = ()) -> list[Pair]:
    """One MambaNO pair per variant, named ``mambano-<variant>``."""
    from mambano_core.models.mambano import CONFIGURATIONS

    pairs = []
    for variant in variants:
        if variant not in CONFIGURATIONS:
            raise SpecError(f"unknown MambaNO variant {variant!r}; known: {', '.join(CONFIGURATIONS)}")
        sets = [f"model.args.{key}={json.dumps(value)}" for key, value in CONFIGURATIONS[variant].items()]
        [pair] = plan_pairs(preset, [benchmark], ["mambano"], out, [*sets, f"output.name=mambano-{variant}", *overrides])
        pairs.append(Pair(benchmark, "mambano", pair.spec, label=variant))
    return pairs


def ablation_study(
    preset: Preset,
    benchmark: str,
    out: str | Path,
    other_resolution: int | None = None,
    variants: Sequence[str] = VARIANTS,
    jobs: int = 1,
    workers: int | None = None,
    overrides: Sequence[str] = (),
    log: Log = lambda message: None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train every variant, score it at the training grid and at ``other_resolution`` (default twice
    the training grid), and write the table and the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_resolution = preset.resolution_for(benchmark)
    other = other_resolution or 2 * train_resolution
    atomic_write_text(out / "study.json", json.dumps(
        {"study": "ablation", "preset": preset.name, "benchmark": benchmark, "variants": list(variants),
         "other_resolution": other, "overrides": list(overrides)}, indent=2) + "\n")
    pairs = plan(preset, benchmark, variants, out, overrides)
    write_specs(pairs, out)
    generate_data(preset, [benchmark], out, workers, log)
    if Store(out / "data", benchmark).extend_to(other, ("test_id", "test_ood"), like=train_resolution):
        log(f"data: {benchmark} test sets at {other}^2")
    train_pairs(pairs, jobs, log, progress=progress)
    rows = []
    for done, pair in enumerate(pairs, start=1):
        rows.append(_score(pair, other, out / "data", log))
        if progress:
            progress("evaluate", done, len(pairs))
    return _write(rows, pairs, out, benchmark, train_resolution, other)


def _score(pair: Pair, other: int, data_root: Path, log: Log) -> dict[str, Any]:
    """A variant's medians at the training grid, and at ``other`` natively and resampled to the training grid."""
    summary = RunDir(pair.run_dir).summary()
    row: dict[str, Any] = {"variant": pair.name, "parameters": summary["parameters"],
                           "train_time_s": summary["train_time_s"], "best_epoch": summary["best_epoch"]}
    for key, resolution, mode in (("", None, "native"), ("other_", other, "native"),
                                  ("other_resampled_", other, "resample")):
        try:
            scores = evaluate_run(pair.run_dir, ood=True, resolution=resolution, mode=mode, data_root=data_root).scores
        except MambanoError as error:
            log(f"{pair.name} at {resolution or 'the training grid'} ({mode}): {error}")
            scores = {}
        for split in ("in", "out"):
            row[f"{key}{split}"] = scores[split].median if split in scores else None
    return row


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _write(rows: list[dict[str, Any]], pairs: list[Pair], out: Path, benchmark: str, train: int, other: int) -> dict[str, Any]:
    lines = [f"| variant | parameters | In | Out | In at {other}^2, native | resampled | Out at {other}^2, native | "
             "resampled | train time (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['parameters']:,} | {_fmt(r['in'])} | {_fmt(r['out'])} | "
                     f"{_fmt(r['other_in'])} | {_fmt(r['other_resampled_in'])} | {_fmt(r['other_out'])} | "
                     f"{_fmt(r['other_resampled_out'])} | {r['train_time_s']:.0f} |")
    markdown = "\n".join(lines) + "\n"
    paths = {"markdown": out / "ablation.md", "json": out / "ablation.json"}
    atomic_write_text(paths["markdown"], markdown)
    atomic_write_text(paths["json"], json.dumps(rows, indent=2) + "\n")
    curves = [Curve(p.name, p.run_dir, benchmark) for p in pairs]
    paths["curves"] = plot_validation(curves, out / "curves.png")
    paths["curves_time"] = plot_validation(curves, out / "curves_time.png", against="hours")
    report = [f"# MambaNO ablation on {benchmark}", "",
              f"Median relative L1 error (%), trained at {train}^2; the same test samples regenerated at {other}^2 "
              f"and evaluated natively (the network run on the {other}^2 grid) and resampled (the input "
              f"resampled to {train}^2 and the output back, as the authors' code does).", "", markdown,
              "![validation curves](curves.png)", "", "![validation against time](curves_time.png)", ""]
    paths["report"] = out / "report.md"
    atomic_write_text(paths["report"], "\n".join(report))
    return {"rows": rows, **paths}
