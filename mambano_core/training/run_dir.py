"""A run folder: the one module that knows its layout, its state, its lock and how runs are found.

Layout under ``<runs_dir>/<name>/``::

    spec.yaml                 the resolved run spec in force
    metrics.jsonl             one line per validated epoch
    summary.json              written when training ends (the run is finished)
    checkpoints/best.pt       the best-validation model
    checkpoints/last.pt       everything needed to resume
    .lock                     held (flock) by the process that trains the run

Like :class:`~mambano_core.data.store.Store` for a data folder, everything else asks a
:class:`RunDir` for these paths instead of spelling them.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mambano_core.errors import MissingFileError, RunBusyError, SpecError
from mambano_core.io_utils import atomic_write_text

BEST, LAST = "best.pt", "last.pt"
RunState = Literal["new", "resumable", "finished"]


def check_run_name(name: str) -> str:
    """``name`` if it names a folder directly inside a runs directory; :class:`SpecError` otherwise.

    A run name is one path component: not empty, not ``.`` or ``..``, no ``/`` or ``\\``, not
    absolute, not hidden (a leading ``.``), so that a run can never be written outside its
    ``runs_dir``.
    """
    bad = (not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".")
           or "\x00" in name or Path(name).is_absolute())
    if bad:
        raise SpecError(
            f"output.name {name!r} is not a run folder name: use one plain name such as 'poisson-mambano' "
            "(no '/', '..', leading '.' or absolute path; runs are always written inside output.runs_dir)"
        )
    return name


@dataclass(frozen=True)
class RunDir:
    """A run folder (it need not exist yet)."""

    path: Path

    @classmethod
    def named(cls, runs_dir: str | Path, name: str) -> "RunDir":
        """The run ``name`` inside ``runs_dir`` (the name checked by :func:`check_run_name`)."""
        return cls(Path(runs_dir) / check_run_name(name))

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    def checkpoint(self, which: str = BEST) -> Path:
        """``checkpoints/best.pt`` or ``checkpoints/last.pt``."""
        if which not in (BEST, LAST):
            raise ValueError(f"a run has checkpoints {BEST} and {LAST}, not {which!r}")
        return self.checkpoints / which

    @property
    def best(self) -> Path:
        return self.checkpoint(BEST)

    @property
    def last(self) -> Path:
        return self.checkpoint(LAST)

    @property
    def spec_path(self) -> Path:
        return self.path / "spec.yaml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def summary_path(self) -> Path:
        return self.path / "summary.json"

    # ------------------------------------------------------------------ state
    def state(self) -> RunState:
        """``finished`` (a summary was written), ``resumable`` (a last checkpoint) or ``new``."""
        if self.summary_path.is_file():
            return "finished"
        if self.last.is_file():
            return "resumable"
        return "new"

    def holds_a_run(self) -> bool:
        """Whether any checkpoint has been written here."""
        return self.checkpoints.is_dir() and any(self.checkpoints.iterdir())

    def clear(self) -> None:
        """Delete the checkpoints, metrics and summary of an earlier run (``--overwrite``)."""
        if self.checkpoints.is_dir():
            for path in self.checkpoints.iterdir():
                path.unlink()
        for path in (self.metrics_path, self.summary_path):
            path.unlink(missing_ok=True)

    # ------------------------------------------------------------------ lock
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run's exclusive lock for the block; :class:`RunBusyError` if another process has it.

        ``flock`` is released by the kernel when its holder dies, so the lock of a killed run is
        free again at once (no stale lock to clean up). Without ``fcntl`` (Windows) the block
        runs unlocked.
        """
        handle = self.acquire()
        try:
            yield
        finally:
            self.release(handle)

    def acquire(self) -> Any:
        """Take the lock outside a ``with`` block; give the handle back to :meth:`release`."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return None
        self.path.mkdir(parents=True, exist_ok=True)
        handle = open(self.path / ".lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RunBusyError(
                f"run {self.path} is being trained by {holder}; wait for it to finish, or train "
                "another run (--set output.name=NEW)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"process {os.getpid()}\n")
        handle.flush()
        return handle

    @staticmethod
    def release(handle: Any) -> None:
        """Release a lock taken with :meth:`acquire` (a no-op for None or a closed handle)."""
        if handle is None or handle.closed:
            return
        import fcntl

        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    # ------------------------------------------------------------------ records
    def metrics(self) -> list[dict[str, Any]]:
        """The epoch records of ``metrics.jsonl`` (empty if there are none)."""
        if not self.metrics_path.is_file():
            return []
        return [json.loads(line) for line in self.metrics_path.read_text().splitlines() if line.strip()]

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Add one epoch's record to ``metrics.jsonl``."""
        with open(self.metrics_path, "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def trim_metrics(self, last_epoch: int) -> None:
        """Drop records of epochs after ``last_epoch`` (logged before a crash, redone on resume)."""
        if self.metrics_path.is_file():
            kept = [r for r in self.metrics() if r["epoch"] <= last_epoch]
            atomic_write_text(self.metrics_path, "".join(json.dumps(r) + "\n" for r in kept))

    def summary(self) -> dict[str, Any]:
        """The summary of a finished run."""
        if not self.summary_path.is_file():
            raise MissingFileError(f"run {self.path} has no summary (it has not finished training)")
        return json.loads(self.summary_path.read_text())

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_text(self.summary_path, json.dumps(summary, indent=2) + "\n")


def run_of(target: str | Path) -> RunDir:
    """The run a run folder or one of its checkpoint files belongs to."""
    target = Path(target)
    if target.is_file() and target.parent.name == "checkpoints":
        return RunDir(target.parent.parent)
    return RunDir(target)


def resolve_checkpoint(target: str | Path, which: str = BEST) -> Path:
    """A checkpoint file from a run folder (its ``checkpoints/<which>``) or a file path."""
    target = Path(target)
    if target.is_dir():
        path = RunDir(target).checkpoint(which)
        if not path.is_file():
            raise MissingFileError(f"run {target} has no checkpoint {which} (is the run finished or started?)")
        return path
    if not target.exists():
        raise MissingFileError(f"checkpoint or run directory {str(target)!r} does not exist")
    if not target.is_file():
        raise MissingFileError(f"{target} is neither a run folder nor a checkpoint file")
    return target


def find_runs(runs_dir: str | Path) -> list[RunDir]:
    """Runs under ``runs_dir`` that hold a best checkpoint, sorted by name."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise MissingFileError(f"runs directory {str(runs_dir)!r} does not exist (train a model first)")
    runs = sorted((RunDir(p) for p in runs_dir.iterdir() if RunDir(p).best.is_file()), key=lambda r: r.name)
    if not runs:
        raise MissingFileError(f"no trained runs under {runs_dir} (train a model first: mambano train SPEC)")
    return runs


def latest_run(runs_dir: str | Path) -> RunDir:
    """The run under ``runs_dir`` whose best checkpoint was written last."""
    runs_dir = Path(runs_dir)
    runs = [RunDir(p) for p in runs_dir.iterdir() if RunDir(p).best.is_file()] if runs_dir.is_dir() else []
    if not runs:
        raise MissingFileError(f"no trained run under {runs_dir}; train one first or pass --checkpoint")
    return max(runs, key=lambda r: r.best.stat().st_mtime_ns)
