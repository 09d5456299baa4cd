"""``mambano study resolution``: trained runs evaluated on the same test samples at other grids.

The resolution-invariance study of CNO (Raonic et al., NeurIPS 2023, Fig. 5) and MambaNO (Zheng
et al., NeurIPS 2024): models trained at one resolution, tested at 32 to 128 in steps of 8. A sample
is a function of its seed, not of its grid, so the store regenerates each test sample at every
requested grid. A model that cannot take a grid (FFNN and DeepONet only take their training grid
natively; CNO and MambaNO need sides divisible by their levels' factor) is reported with the
reason, and the study goes on with the rest.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mambano_core.data.store import Store
from mambano_core.errors import MambanoError
from mambano_core.evaluation.evaluate import evaluate_run
from mambano_core.io_utils import atomic_write_text
from mambano_core.studies.plots import plot_against
from mambano_core.studies.reproduce import Log, Progress
from mambano_core.training.checkpoint import read_checkpoint
from mambano_core.training.run_dir import BEST, resolve_checkpoint, run_of

#: The CNO/MambaNO protocol's test grids (trained at 64).
DEFAULT_RESOLUTIONS: tuple[int, ...] = tuple(range(32, 129, 8))
MODES = ("native", "resample")


@dataclass
class ResolutionRow:
    """One (run, mode, resolution, split) of the table; ``note`` says why there is no score."""

    run: str
    model: str
    benchmark: str
    train_resolution: int
    mode: str
    resolution: int
    split: str
    median: float | None = None
    q25: float | None = None
    q75: float | None = None
    note: str = ""


def _prepare_test_data(run: Path, resolutions: Sequence[int], ood: bool, log: Log) -> None:
    """Generate the run's test samples at every grid it does not have yet (same seeds, same parameters)."""
    raw = read_checkpoint(resolve_checkpoint(run, BEST))
    data = raw["data"]
    store = Store(raw["spec"]["data"]["root"], data["benchmark"])
    splits = ["test_id", "test_ood"] if ood else ["test_id"]
    for resolution in resolutions:
        made = store.extend_to(resolution, splits, like=data["resolution"])
        if made:
            log(f"data: {data['benchmark']} {', '.join(made)} at {resolution}^2")


def resolution_study(
    runs: Sequence[str | Path],
    out: str | Path,
    resolutions: Sequence[int] = DEFAULT_RESOLUTIONS,
    modes: Sequence[str] = ("native",),
    ood: bool = False,
    log: Log = lambda message: None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Evaluate every run at every resolution and mode; write the table, the plot and the report.

    Returns
    -------
    dict
        ``rows`` (:class:`ResolutionRow` list) and the paths of ``markdown``, ``csv``, ``json``,
        ``plot`` and ``report``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    runs = [run_of(r).path for r in runs]
    atomic_write_text(out / "study.json", json.dumps(
        {"study": "resolution", "runs": [str(r) for r in runs], "resolutions": list(resolutions),
         "modes": list(modes), "ood": ood}, indent=2) + "\n")
    for run in runs:
        _prepare_test_data(run, resolutions, ood, log)
    tasks = [(run, mode, res) for run in runs for mode in modes for res in resolutions]
    rows: list[ResolutionRow] = []
    for done, (run, mode, resolution) in enumerate(tasks, start=1):
        rows += _evaluate(run, mode, resolution, ood, log)
        if progress:
            progress("evaluate", done, len(tasks))
    return _write(rows, out, resolutions, ood)


def _evaluate(run: Path, mode: str, resolution: int, ood: bool, log: Log) -> list[ResolutionRow]:
    raw = read_checkpoint(resolve_checkpoint(run, BEST))
    base = dict(run=run.name, model=raw["model_name"], benchmark=raw["data"]["benchmark"],
                train_resolution=raw["data"]["resolution"], mode=mode, resolution=resolution)
    splits = ("in", "out") if ood else ("in",)
    try:
        evaluation = evaluate_run(run, ood=ood, resolution=resolution, mode=mode)
    except MambanoError as error:
        log(f"{run.name} at {resolution}^2 ({mode}): {error}")
        return [ResolutionRow(**base, split=split, note=str(error)) for split in splits]
    return [ResolutionRow(**base, split=split, median=score.median, q25=score.q25, q75=score.q75)
            for split, score in evaluation.scores.items()]


def _cell(row: ResolutionRow) -> str:
    return f"{row.median:.2f} [{row.q25:.2f}, {row.q75:.2f}]" if row.median is not None else "-"


def _write(rows: list[ResolutionRow], out: Path, resolutions: Sequence[int], ood: bool) -> dict[str, Any]:
    keys = list(dict.fromkeys((r.run, r.model, r.mode, r.train_resolution) for r in rows))
    splits = ("in", "out") if ood else ("in",)
    lookup = {(r.run, r.mode, r.resolution, r.split): r for r in rows}
    header = "| run | model | mode | resolution | " + " | ".join(f"{s.capitalize()} [q25, q75]" for s in splits) + " |"
    lines = [header, "|---" * (4 + len(splits)) + "|"]
    for run, model, mode, train in keys:
        for res in resolutions:
            mark = " (training)" if res == train else ""
            cells = [_cell(lookup[(run, mode, res, s)]) for s in splits]
            lines.append(f"| {run} | {model} | {mode} | {res}{mark} | " + " | ".join(cells) + " |")
    notes = sorted({f"- {r.run}, {r.mode}, {r.resolution}: {r.note}" for r in rows if r.note})
    markdown = "\n".join(lines) + "\n" + ("\nNot evaluated:\n\n" + "\n".join(notes) + "\n" if notes else "")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(asdict(rows[0])), lineterminator="\n")
    writer.writeheader()
    writer.writerows(asdict(r) for r in rows)
    paths = {"markdown": out / "resolution.md", "csv": out / "resolution.csv", "json": out / "resolution.json"}
    atomic_write_text(paths["markdown"], markdown)
    atomic_write_text(paths["csv"], buffer.getvalue())
    atomic_write_text(paths["json"], json.dumps([asdict(r) for r in rows], indent=2) + "\n")
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        if r.split == "in" and r.median is not None:
            series.setdefault(f"{r.model} ({r.run}, {r.mode})", []).append((r.resolution, r.median))
    trained = sorted({train for *_, train in keys})
    paths["plot"] = plot_against(series, out / "resolution.png", "test grid (points per side)",
                                 "In error against grid (dotted: training grid)", marks=trained)
    report = ["# Resolution study", "",
              "Median relative L1 error (%) and interquartile range of each run on the same test samples, "
              "regenerated at each grid; `native` runs the model on the grid itself, `resample` resamples "
              "the input to the training grid and the output back.", "",
              markdown, "![error against resolution](resolution.png)", ""]
    paths["report"] = out / "report.md"
    atomic_write_text(paths["report"], "\n".join(report))
    return {"rows": rows, **paths}


def parse_modes(mode: str) -> list[str]:
    """``native``, ``resample`` or ``both``."""
    if mode == "both":
        return list(MODES)
    if mode not in MODES:
        raise ValueError(f"mode must be native, resample or both, not {mode!r}")
    return [mode]
