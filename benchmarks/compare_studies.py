"""One Markdown table from several `mambano reproduce` studies on the same data (docs/results.md).

    python benchmarks/compare_studies.py \
        "recalibrated=reproduce/cpu-small" "stale=reproduce/cpu-small-stale" --models mambano cno

Each ``LABEL=STUDY_DIR`` contributes one row per model found in its ``results.json``, labelled
``model (configuration) LABEL``; columns are the benchmarks' In/Out median relative L1 (%), the
lowest per column among the rows in bold. A second table gives, per row, the best epoch and the
training time of each pair (from the runs' ``summary.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mambano_core.evaluation.tables import BENCHMARK_ORDER
from mambano_core.training.run_dir import RunDir


def _rows(studies: list[tuple[str, Path]], models: list[str] | None) -> list[tuple[str, dict[str, dict]]]:
    rows: dict[str, dict[str, dict]] = {}
    for label, study in studies:
        for ev in json.loads((study / "results.json").read_text()):
            if models and ev["model"] not in models:
                continue
            name = ev["model"] + (f" ({ev['configuration']})" if ev.get("configuration") else "")
            rows.setdefault(f"{name} {label}".strip(), {})[ev["benchmark"]] = ev
    order = {m: i for i, m in enumerate(models or [])}
    return sorted(rows.items(), key=lambda item: order.get(item[0].split(" ")[0], len(order)))


def comparison_table(studies: list[tuple[str, Path]], models: list[str] | None = None) -> str:
    """Markdown: rows = (model, study), columns = benchmark In/Out medians, best per column bold."""
    rows = _rows(studies, models)
    benches = [b for b in BENCHMARK_ORDER if any(b in evs for _, evs in rows)]
    columns = [(b, k) for b in benches for k in ("in", "out")]
    best = {c: min((evs[c[0]]["scores"][c[1]]["median"] for _, evs in rows if c[0] in evs), default=None)
            for c in columns}
    lines = ["| model | " + " | ".join(f"{b} {k.capitalize()}" for b, k in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for name, evs in rows:
        cells = []
        for bench, kind in columns:
            if bench not in evs:
                cells.append("-")
                continue
            value = evs[bench]["scores"][kind]["median"]
            cells.append(f"**{value:.2f}**" if value == best[(bench, kind)] and len(rows) > 1 else f"{value:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def training_table(studies: list[tuple[str, Path]], models: list[str] | None = None) -> str:
    """Markdown: best epoch / epochs and training time (s) of each pair."""
    rows = _rows(studies, models)
    benches = [b for b in BENCHMARK_ORDER if any(b in evs for _, evs in rows)]
    lines = ["| model | " + " | ".join(benches) + " |", "|---|" + "---|" * len(benches)]
    for name, evs in rows:
        cells = []
        for bench in benches:
            if bench not in evs:
                cells.append("-")
                continue
            summary = RunDir(Path(evs[bench]["run_dir"])).summary()
            cells.append(f"{summary['best_epoch']}/{summary['epochs_run']}, {summary['train_time_s']:.0f} s")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("studies", nargs="+", metavar="LABEL=STUDY_DIR")
    parser.add_argument("--models", nargs="*", help="only these models, in this row order")
    parser.add_argument("--training", action="store_true", help="also print best epochs and training times")
    args = parser.parse_args()
    studies = [(label, Path(path)) for label, _, path in (s.partition("=") for s in args.studies)]
    print(comparison_table(studies, args.models))
    if args.training:
        print(training_table(studies, args.models))


if __name__ == "__main__":
    main()
