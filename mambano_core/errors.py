"""Errors a user can cause, each with the process exit code the CLI returns for it.

Exit codes (documented in ``mambano --help``):

====  ==========================================================
0     success
1     unexpected internal error (a bug: please report it)
2     command-line usage error (unknown option, bad argument)
3     invalid run spec (malformed YAML, unknown key, invalid value)
4     invalid data (wrong variables or dimensions, NaN/Inf, bad file)
5     missing file or directory
6     incompatible checkpoint (another model, newer format, corrupt)
7     training failed (the loss became NaN or infinite)
8     busy: another process is writing the same run or data folder
130   interrupted by Ctrl-C (a checkpoint was saved first)
====  ==========================================================
"""

from __future__ import annotations


class MambanoError(Exception):
    """Base class of errors caused by user input; ``exit_code`` is what the CLI returns."""

    exit_code: int = 1
    title: str = "error"


class UsageError(MambanoError):
    """An argument that cannot be used: a resolution out of range, an output path that is not a file."""

    exit_code = 2
    title = "usage error"


class SpecError(MambanoError):
    """A run spec is malformed, has unknown keys or invalid values."""

    exit_code = 3
    title = "invalid run spec"


class DataError(MambanoError):
    """A data file has the wrong variables, dimensions or non-finite values."""

    exit_code = 4
    title = "invalid data"


class MissingFileError(MambanoError):
    """A file or directory the command needs does not exist."""

    exit_code = 5
    title = "missing file"


class CheckpointError(MambanoError):
    """A checkpoint cannot be used for what was asked (other model, corrupt, newer format)."""

    exit_code = 6
    title = "incompatible checkpoint"


class TrainingDiverged(MambanoError):
    """The training loss became NaN or infinite."""

    exit_code = 7
    title = "training failed"


class RunBusyError(MambanoError):
    """Another process holds the lock of the run (or data) folder this command would write."""

    exit_code = 8
    title = "busy"


class TrainingInterrupted(MambanoError):
    """Training was interrupted by the user; a checkpoint was saved before stopping."""

    exit_code = 130
    title = "interrupted"


EXIT_CODES: dict[str, int] = {
    "success": 0,
    "internal error": 1,
    "usage error": 2,
    SpecError.title: SpecError.exit_code,
    DataError.title: DataError.exit_code,
    MissingFileError.title: MissingFileError.exit_code,
    CheckpointError.title: CheckpointError.exit_code,
    TrainingDiverged.title: TrainingDiverged.exit_code,
    RunBusyError.title: RunBusyError.exit_code,
    TrainingInterrupted.title: TrainingInterrupted.exit_code,
}
