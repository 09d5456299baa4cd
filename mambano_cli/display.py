"""Human output on stderr (rich) and machine output on stdout (JSON)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from mambano_core.training.reporter import TrainingReporter

console = Console(stderr=True, highlight=False)


def emit_json(payload: Any) -> None:
    """Machine-readable output on stdout: strict JSON (a NaN or infinity becomes null)."""
    sys.stdout.write(json.dumps(_finite(payload), indent=2, default=str, allow_nan=False) + "\n")
    sys.stdout.flush()


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def make_progress(*extra: Any) -> Progress:
    """A rich progress bar on stderr."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), *extra,
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False,
    )


class GenerationProgress:
    """One progress bar per split file, fed by the store's progress callback."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, key: str, done: int, total: int) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(key, total=total)
        self.progress.update(self.tasks[key], completed=done)


class RichTrainingReporter(TrainingReporter):
    """Progress bar per epoch with the running loss, and a line per epoch."""

    def __init__(self) -> None:
        self.progress = make_progress(TextColumn("loss {task.fields[loss]}"))
        self.task: Any = None
        self.running: list[float] = []

    def on_start(self, info: dict[str, Any]) -> None:
        resume = f", resuming at epoch {info['start_epoch'] + 1} batch {info['start_batch']}" if info["start_epoch"] or info["start_batch"] else ""
        console.print(
            f"[bold]{info['model']}[/bold]: {info['parameters']:,} parameters on {info['device']}; "
            f"{info['train_samples']} training / {info['val_samples']} validation samples, "
            f"{info['batches_per_epoch']} batches per epoch, {info['epochs']} epochs{resume}\n"
            f"run directory: {info['run']}"
        )
        self.progress.start()

    def on_message(self, text: str) -> None:
        self.progress.console.print(text, style="dim", markup=False, highlight=False)

    def on_epoch_start(self, epoch: int, batches: int, start_batch: int) -> None:
        self.running = []
        if self.task is not None:
            self.progress.remove_task(self.task)
        self.task = self.progress.add_task(f"epoch {epoch + 1}", total=batches, completed=start_batch, loss="-")

    def on_step(self, epoch: int, batch: int, loss: float) -> None:
        self.running.append(loss)
        mean = sum(self.running) / len(self.running)
        self.progress.update(self.task, completed=batch, loss=f"{mean:.4f}")

    def on_epoch_end(self, record: dict[str, Any]) -> None:
        mark = " *" if record["best"] else ""
        self.progress.console.print(
            f"epoch {record['epoch']:4d}  train {record['train_loss']:.4f}  "
            f"val rel L1 {record['val_rel_l1_mean']:.2f}% (median {record['val_rel_l1_median']:.2f}%)  "
            f"lr {record['lr']:.2e}  {record['time_s']:.1f}s{mark}"
        )

    def on_end(self, summary: dict[str, Any]) -> None:
        self.progress.stop()
        console.print(
            f"done: {summary['stop_reason']}; best validation rel L1 {summary['best_val_rel_l1_mean']:.2f}% "
            f"at epoch {summary['best_epoch']} ({summary['train_time_s']:.0f} s)"
        )

    def stop(self) -> None:
        """Stop the live display (on errors and interruptions)."""
        self.progress.stop()


def print_table(results: Any, title: str) -> None:
    """A results table (:class:`mambano_core.evaluation.tables.ResultsTable`) on stderr, best cells bold.

    A table wider than the console is printed as several tables, each with the model column and
    as many benchmarks (In and Out together) as fit, so that no cell is cut short.
    """
    for part, columns in enumerate(_column_parts(results, console.width)):
        console.print(_rich_table(results, columns, title if part == 0 else None))
    for note in results.notes:
        console.print(note, style="dim")


def _rich_table(results: Any, columns: list[int], title: str | None) -> Table:
    """The first (label) column and ``columns`` of ``results`` as a rich table."""
    table = Table(title=title)
    shown = [0, *columns]
    for c in shown:
        table.add_column(results.headers[c], justify="left" if c == 0 else "right", no_wrap=True)
    for r, row in enumerate(results.rows):
        table.add_row(*[f"[bold green]{row[c]}[/bold green]" if (r, c) in results.best else row[c] for c in shown])
    return table


def _natural_width(table: Table) -> int:
    """Width the table takes when nothing limits it (rich otherwise clamps to the console)."""
    return console.measure(table, options=console.options.update_width(1 << 16)).maximum


def _column_parts(results: Any, width: int) -> list[list[int]]:
    """The data columns cut into consecutive parts whose tables fit ``width``; the columns of one
    benchmark (headers ``"<benchmark> In"``, ``"<benchmark> Out"``) stay together where they fit."""
    blocks: list[list[int]] = []
    for c in range(1, len(results.headers)):
        key = results.headers[c].rsplit(" ", 1)[0]
        if blocks and results.headers[blocks[-1][0]].rsplit(" ", 1)[0] == key:
            blocks[-1].append(c)
        else:
            blocks.append([c])
    fitting = []  # a benchmark whose columns together are too wide gets a table per column
    for block in blocks:
        too_wide = len(block) > 1 and _natural_width(_rich_table(results, block, None)) > width
        fitting += [[c] for c in block] if too_wide else [block]
    parts: list[list[int]] = []
    current: list[int] = []
    for block in fitting:
        if current and _natural_width(_rich_table(results, current + block, None)) > width:
            parts.append(current)
            current = []
        current = current + block
    parts.append(current)
    return parts
