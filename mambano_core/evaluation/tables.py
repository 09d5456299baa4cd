"""The results table: one row per model (or run), In/Out columns per benchmark."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from mambano_core.evaluation.evaluate import RunEvaluation
from mambano_core.io_utils import atomic_write_text

BENCHMARK_ORDER = (
    "poisson", "wave", "transport_smooth", "transport_discontinuous",
    "allen_cahn", "navier_stokes", "darcy", "airfoil",
)


@dataclass
class ResultsTable:
    """Headers and rows of formatted cells (``-`` where a run has no score)."""

    headers: list[str]
    rows: list[list[str]]

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown table."""
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """CSV text."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return buffer.getvalue()


def _row_labels(evaluations: list[RunEvaluation]) -> list[str]:
    """The model name, or the run name where two runs of one model share a benchmark."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for ev in evaluations:
        seen[(ev.model, ev.benchmark)] += 1
    return [ev.run if seen[(ev.model, ev.benchmark)] > 1 else ev.model for ev in evaluations]


def build_table(evaluations: list[RunEvaluation], ood: bool) -> ResultsTable:
    """Median relative L1 (%) per row label and benchmark, In (and Out with ``ood``)."""
    benchmarks = sorted({ev.benchmark for ev in evaluations}, key=_benchmark_rank)
    labels = _row_labels(evaluations)
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for label, ev in zip(labels, evaluations):
        for key, score in ev.scores.items():
            cells[label][f"{ev.benchmark}:{key}"] = f"{score.median:.2f}"
    kinds = ("in", "out") if ood else ("in",)
    headers = ["model"] + [f"{b} {k.capitalize()}" for b in benchmarks for k in kinds]
    rows = [[label] + [cells[label].get(f"{b}:{k}", "-") for b in benchmarks for k in kinds] for label in dict.fromkeys(labels)]
    return ResultsTable(headers, rows)


def _benchmark_rank(name: str) -> tuple[int, str]:
    return (BENCHMARK_ORDER.index(name) if name in BENCHMARK_ORDER else len(BENCHMARK_ORDER), name)


def write_tables(table: ResultsTable, directory: str | Path, stem: str = "eval") -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.csv`` into ``directory`` atomically."""
    directory = Path(directory)
    md, csv_path = directory / f"{stem}.md", directory / f"{stem}.csv"
    atomic_write_text(md, table.to_markdown())
    atomic_write_text(csv_path, table.to_csv())
    return md, csv_path
