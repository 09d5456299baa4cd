"""What may resume into a run: the contract between a ``last.pt`` and the spec asked to continue it.

A resumed run must be the same experiment:
- the same model and arguments (else :class:`CheckpointError`, exit 6);
- the same data: benchmark, grid, boundary, variables and, where the checkpoint records them, the
  SHA-256 of the training and validation files (else :class:`DataError`, exit 4);
- the same hyperparameters (else :class:`SpecError`, exit 3: the optimiser, scheduler and sampler
  states in the checkpoint belong to them, so a new rate would be ignored or half-applied).

Some settings do not change the experiment and may be changed on resume; they are applied, and
the spec written to the run folder says so: the epoch budget and patience (train longer), the
wall-clock budget, the device, the thread and worker counts, and where the data and runs live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mambano_core.errors import CheckpointError, DataError, SpecError
from mambano_core.models.registry import stored_model_args
from mambano_core.training.spec import RunSpec

#: Spec entries a resumed run may change (dotted paths).
CHANGEABLE_ON_RESUME = frozenset({
    "training.epochs", "training.patience", "training.max_minutes", "training.device", "training.threads",
    "data.num_workers", "data.root", "output.runs_dir",
})
_DATA_FACTS = ("benchmark", "resolution", "boundary", "input_variable", "output_variable", "train_sha256", "val_sha256")


def check_resume(
    raw: dict[str, Any], spec: RunSpec, model_args: dict[str, Any], data_info: dict[str, Any], path: Path
) -> list[str]:
    """Check that ``spec`` may continue the run of checkpoint ``raw`` (read from ``path``).

    Returns
    -------
    list of str
        The changeable settings that differ, as ``"training.epochs = 40 (was 20)"``.

    Raises
    ------
    CheckpointError, DataError, SpecError
        See the module docstring.
    """
    _check_model(raw, spec, model_args, path)
    _check_data(raw["data"], data_info, path)
    return _spec_changes(raw.get("spec") or {}, spec.to_dict(), path)


def _check_model(raw: dict[str, Any], spec: RunSpec, model_args: dict[str, Any], path: Path) -> None:
    if raw["model_name"].lower() != spec.model.name.lower():
        raise CheckpointError(f"{path} holds model {raw['model_name']!r}, but the spec asks for {spec.model.name!r}")
    stored = stored_model_args(spec.model.name, raw["model_args"])
    if stored != model_args:
        changes = ", ".join(f"{key}: {stored.get(key, '(none)')!r} in the checkpoint, "
                            f"{model_args.get(key, '(none)')!r} in the spec"
                            for key in sorted(set(stored) | set(model_args)) if stored.get(key) != model_args.get(key))
        raise CheckpointError(
            f"{path} holds another {raw['model_name']!r} network ({changes}); "
            "resume with the checkpoint's arguments (--set model.args.KEY=VALUE) or train a new run"
        )


def _check_data(stored: dict[str, Any], current: dict[str, Any], path: Path) -> None:
    differ = [key for key in _DATA_FACTS
              if stored.get(key) is not None and current.get(key) is not None and stored[key] != current[key]]
    if differ:
        what = ", ".join(f"{key} {stored[key]!r} in the run, {current[key]!r} now" for key in differ)
        raise DataError(
            f"{path} was trained on other data ({what}); a run resumes only on the data it started "
            "with: point data.root at that store, or train a new run (--set output.name=NEW)"
        )


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key != "args":  # model.args is compared as the model's arguments
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _spec_changes(stored: dict[str, Any], current: dict[str, Any], path: Path) -> list[str]:
    old, new = _flatten(stored), _flatten(current)
    # Keys the stored spec lacks were added to mambano after the run started: nothing to compare.
    differ = sorted(key for key in new if key in old and old[key] != new[key] and key != "model.args")
    refused = [key for key in differ if key not in CHANGEABLE_ON_RESUME]
    if refused:
        what = "; ".join(f"{key} is {old[key]!r} in the run, {new[key]!r} in the spec" for key in refused)
        raise SpecError(
            f"cannot resume {path.parent.parent} with other hyperparameters ({what}): its optimiser, "
            "scheduler and sampler states belong to the old ones. Resume with the run's values, or "
            "start a new run with the new ones (--set output.name=NEW). Settings that may change on "
            f"resume: {', '.join(sorted(CHANGEABLE_ON_RESUME))}"
        )
    return [f"{key} = {new[key]!r} (was {old[key]!r})" for key in differ]
