"""The ``mambano`` Typer app: parse, validate, call the core, print. Heavy imports live in commands."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from mambano_core.errors import MambanoError

EPILOG = (
    "Exit codes: 0 success; 1 internal error; 2 usage error; 3 invalid run spec "
    "(malformed YAML, unknown key, invalid value); 4 invalid data (wrong variables or "
    "dimensions, NaN/Inf); 5 missing file; 6 incompatible checkpoint; 7 training diverged; "
    "8 busy (another process writes the same run or data folder); "
    "130 interrupted by Ctrl-C (a checkpoint was saved first)."
)

app = typer.Typer(
    name="mambano",
    help="Operator learning with the alias-free Mamba neural operator: generate benchmark data, "
    "train, evaluate, predict and resample fields.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])
# Typer may vendor click; its ClickException is the base of every usage error (exit 2).
_ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


MAX_MESSAGE = 4000  # characters of an error message shown (a message may quote a user's input)


def fail(error: MambanoError) -> typer.Exit:
    """Print a one-paragraph error message on stderr and return the Exit to raise."""
    from rich.markup import escape

    console = _stderr_console()
    text = str(error)
    if len(text) > MAX_MESSAGE:
        text = f"{text[:MAX_MESSAGE]}... ({len(text) - MAX_MESSAGE:,} more characters)"
    console.print(f"[bold red]error ({error.title}):[/bold red] {escape(text)}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(error.exit_code)


def handle_errors(command: F) -> F:
    """Turn user errors into messages and exit codes; tracebacks only with MAMBANO_DEBUG=1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except MambanoError as error:
            if os.environ.get("MAMBANO_DEBUG"):
                raise
            raise fail(error) from None
        except KeyboardInterrupt:
            _stderr_console().print("[yellow]interrupted[/yellow]")
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, _ClickException, SystemExit):
            raise  # usage errors print themselves and exit 2
        except Exception as error:  # a bug: say so plainly, keep the traceback for debugging
            if os.environ.get("MAMBANO_DEBUG"):
                raise
            from rich.markup import escape

            _stderr_console().print(
                f"[bold red]internal error:[/bold red] {type(error).__name__}: {escape(str(error))}\n"
                "This is a bug in mambano; rerun with MAMBANO_DEBUG=1 for the traceback and report it.",
                markup=True, highlight=False,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _register_commands() -> None:
    from mambano_cli import commands
    from mambano_cli.commands.study import STUDIES

    for name, function, help_text in commands.COMMANDS:
        app.command(name=name, help=help_text, epilog=EPILOG)(handle_errors(function))
    study = typer.Typer(help="The paper's studies: resolution invariance, data efficiency, ablation.",
                        no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    for name, function in STUDIES:
        study.command(name=name, epilog=EPILOG)(handle_errors(function))
    app.add_typer(study, name="study")


_register_commands()


def main() -> None:
    """Console-script entry point."""
    from mambano_core.memory import keep_freed_memory

    keep_freed_memory()
    app(prog_name="mambano")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
