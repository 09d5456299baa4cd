"""``mambano train``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def train_command(
    spec: Annotated[Path, typer.Argument(help="YAML run spec (sections data, model, training, output)")],
    set_: Annotated[list[str], typer.Option("--set", help="dotted override, e.g. --set training.epochs=5 (repeatable)")] = [],
    resume: Annotated[bool, typer.Option("--resume", help="continue the run from its last checkpoint, exactly")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="discard an earlier run in the same directory")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print the run summary as JSON on stdout")] = False,
) -> None:
    """Train a model; Ctrl-C saves a checkpoint first (continue with --resume)."""
    from mambano_cli.display import RichTrainingReporter, emit_json
    from mambano_core.training.spec import load_spec
    from mambano_core.training.trainer import Trainer

    run_spec = load_spec(spec, overrides=set_)
    reporter = RichTrainingReporter()
    trainer = Trainer(run_spec, reporter=reporter, resume=resume, overwrite=overwrite)
    try:
        summary = trainer.fit()
    finally:
        reporter.stop()
    if json_output:
        emit_json(summary)
