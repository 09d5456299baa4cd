"""The results table: one row per model (or run), In/Out columns per benchmark, best per column marked."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mambano_core.data.benchmarks import available_benchmarks
from mambano_core.evaluation.evaluate import RunEvaluation
from mambano_core.io_utils import atomic_write_text

BENCHMARK_ORDER: tuple[str, ...] = tuple(available_benchmarks())  # the registry's (reference table's) order
PUBLISHED_PREFIX = "published: "


@dataclass
class ResultsTable:
    """Headers, rows of formatted cells (``-`` where there is no score) and the best cells.

    ``best`` holds (row, column) positions of the lowest median per column among our runs
    (published rows never compete).
    """

    headers: list[str]
    rows: list[list[str]]
    best: set[tuple[int, int]] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    def to_markdown(self) -> str:
        """GitHub-flavoured Markdown table, best cells in bold."""
        lines = ["| " + " | ".join(self.headers) + " |", "|" + "---|" * len(self.headers)]
        for r, row in enumerate(self.rows):
            cells = [f"**{cell}**" if (r, c) in self.best else cell for c, cell in enumerate(row)]
            lines.append("| " + " | ".join(cells) + " |")
        lines += [""] + [f"{note}" for note in self.notes] if self.notes else []
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        """CSV text (no highlighting)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return buffer.getvalue()


def _model_label(ev: RunEvaluation) -> str:
    """``mambano (authors)``: the model and, where it has named variants, which one ran."""
    return f"{ev.model} ({ev.configuration})" if ev.configuration else ev.model


def _row_labels(evaluations: list[RunEvaluation]) -> list[str]:
    """The model label, or the run name where two runs of one model label share a benchmark."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    for ev in evaluations:
        seen[(_model_label(ev), ev.benchmark)] += 1
    return [ev.run if seen[(_model_label(ev), ev.benchmark)] > 1 else _model_label(ev) for ev in evaluations]


def _format(median: float, q25: float | None = None, q75: float | None = None) -> str:
    text = f"{median:.2f}"
    return text if q25 is None else f"{text} [{q25:.2f}, {q75:.2f}]"


def build_table(
    evaluations: list[RunEvaluation], ood: bool, stats: bool = False, reference: bool = False
) -> ResultsTable:
    """Median relative L1 (%) per row label and benchmark, In (and Out with ``ood``).

    Parameters
    ----------
    stats
        Add the interquartile range ``[q25, q75]`` to each cell.
    reference
        Append the published rows of the reference table for the same benchmarks, labelled.
    """
    benchmarks = sorted({ev.benchmark for ev in evaluations}, key=_benchmark_rank)
    kinds = ("in", "out") if ood else ("in",)
    columns = [(b, k) for b in benchmarks for k in kinds]
    labels = _row_labels(evaluations)
    values: dict[str, dict[tuple[str, str], float]] = defaultdict(dict)
    cells: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    for label, ev in zip(labels, evaluations):
        for kind, score in ev.scores.items():
            values[label][(ev.benchmark, kind)] = score.median
            cells[label][(ev.benchmark, kind)] = _format(score.median, *((score.q25, score.q75) if stats else ()))
    row_names = list(dict.fromkeys(labels))
    rows = [[name] + [cells[name].get(col, "-") for col in columns] for name in row_names]
    best = _best_cells(row_names, columns, values)
    table = ResultsTable(["model"] + [f"{b} {k.capitalize()}" for b, k in columns], rows, best)
    if reference:
        _append_published(table, columns)
    return table


def _best_cells(row_names: list[str], columns: list[tuple[str, str]], values: dict[str, dict[tuple[str, str], float]]) -> set[tuple[int, int]]:
    best = set()
    for c, column in enumerate(columns, start=1):
        scored = [(values[name][column], r) for r, name in enumerate(row_names) if column in values[name]]
        if len(scored) > 1:
            best.add((min(scored)[1], c))
    return best


def _append_published(table: ResultsTable, columns: list[tuple[str, str]]) -> None:
    from mambano_core.evaluation.reference import PUBLISHED, SOURCE

    for model, scores in PUBLISHED.items():
        row = [f"{PUBLISHED_PREFIX}{model}"]
        for bench, kind in columns:
            pair = scores.get(bench)
            row.append("-" if pair is None else f"{pair[0 if kind == 'in' else 1]:.2f}")
        table.rows.append(row)
    table.notes.append(f"Rows marked '{PUBLISHED_PREFIX}' are published numbers from the {SOURCE}; "
                       "GT = Galerkin Transformer. They were measured on other data and are not comparable cell by cell.")


def _benchmark_rank(name: str) -> tuple[int, str]:
    return (BENCHMARK_ORDER.index(name) if name in BENCHMARK_ORDER else len(BENCHMARK_ORDER), name)


def write_tables(table: ResultsTable, directory: str | Path, stem: str = "eval") -> tuple[Path, Path]:
    """Write ``<stem>.md`` and ``<stem>.csv`` into ``directory`` atomically."""
    directory = Path(directory)
    md, csv_path = directory / f"{stem}.md", directory / f"{stem}.csv"
    atomic_write_text(md, table.to_markdown())
    atomic_write_text(csv_path, table.to_csv())
    return md, csv_path
