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
    nproc: Annotated[int, typer.Option("--nproc", min=1, help="train as N local processes of one distributed job (DDP; several machines: torchrun)")] = 1,
) -> None:
    """Train a model; Ctrl-C saves a checkpoint first (continue with --resume)."""
    from mambano_cli.display import RichTrainingReporter, emit_json
    from mambano_core.training.distributed import context_from_environment
    from mambano_core.training.spec import load_spec
    from mambano_core.training.trainer import Trainer

    run_spec = load_spec(spec, overrides=set_)  # checked once here, before any process starts
    context = context_from_environment()
    if nproc > 1 and not context.enabled:
        from mambano_core.training.launch import launch

        command = ["-m", "mambano_cli", "train", str(spec), *(f"--set={item}" for item in set_)]
        command += ["--resume"] * resume + ["--overwrite"] * overwrite + ["--json"] * json_output
        raise typer.Exit(launch(nproc, command))
    reporter = RichTrainingReporter() if context.is_main else None
    trainer = Trainer(run_spec, reporter=reporter, resume=resume, overwrite=overwrite, context=context)
    try:
        summary = trainer.fit()
    finally:
        if reporter is not None:
            reporter.stop()
    if json_output and context.is_main:
        emit_json(summary)
