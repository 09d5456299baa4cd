"""Checkpoints that rebuild their model without the caller knowing its constructor.

A checkpoint holds the model name and JSON constructor arguments, its weights, the resolved
run spec, the normalisation statistics, the data description and the package version; a
resumable one also the optimiser, scheduler, position in training and RNG states. It is
written atomically and loads with ``torch.load(weights_only=True)`` (no pickled code).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mambano_core import __version__
from mambano_core.data.normalization import Normalization
from mambano_core.errors import CheckpointError, MissingFileError, SpecError
from mambano_core.io_utils import atomic_path
from mambano_core.models.registry import build_model, stored_model_args

CHECKPOINT_FORMAT = 1


@dataclass
class LoadedCheckpoint:
    """A checkpoint read from disk, with its model rebuilt."""

    path: Path
    model: nn.Module
    model_name: str
    model_args: dict[str, Any]
    spec: dict[str, Any]
    normalization: Normalization
    data: dict[str, Any]
    raw: dict[str, Any]


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch RNG states in a ``weights_only``-loadable form."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states saved by :func:`rng_state`."""
    random.setstate(_to_tuples(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_lists(value: Any) -> Any:
    return [_to_lists(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuples(value: Any) -> Any:
    return tuple(_to_tuples(v) for v in value) if isinstance(value, list) else value


def save_checkpoint(
    path: str | Path,
    *,
    model: nn.Module,
    model_name: str,
    model_args: dict[str, Any],
    spec: dict[str, Any],
    normalization: Normalization,
    data: dict[str, Any],
    train_state: dict[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (temp file + rename)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "package_version": __version__,
        "model_name": model_name,
        "model_args": model_args,
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "spec": spec,
        "normalization": normalization.to_dict(),
        "data": data,
        "train_state": train_state,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's raw contents, checking its format."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"checkpoint {str(path)!r} does not exist")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or foreign file
        raise CheckpointError(f"{path} is not a readable mambano checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(raw, dict) or "model_name" not in raw or "format" not in raw:
        raise CheckpointError(f"{path} is not a mambano checkpoint (no model name or format)")
    if not isinstance(raw["format"], int) or raw["format"] > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} uses checkpoint format {raw['format']!r}, newer than this mambano ({__version__}) "
            f"understands ({CHECKPOINT_FORMAT}); upgrade mambano"
        )
    _check_parts(path, raw)
    return raw


_REQUIRED_PARTS: dict[str, tuple[str, ...]] = {
    "model_args": (),
    "model_state": (),
    "spec": (),
    "normalization": ("input_min", "input_max", "output_min", "output_max"),
    "data": ("benchmark", "resolution", "boundary", "input_variable", "output_variable"),
}


def _check_parts(path: Path, raw: dict[str, Any]) -> None:
    """:class:`CheckpointError` naming what a damaged or hand-made checkpoint lacks."""
    missing = [name for name in _REQUIRED_PARTS if not isinstance(raw.get(name), dict)]
    missing += [f"{name}.{key}" for name, keys in _REQUIRED_PARTS.items()
                if isinstance(raw.get(name), dict) for key in keys if key not in raw[name]]
    if not isinstance(raw["model_name"], str):
        missing.append("model_name (a string)")
    if missing:
        raise CheckpointError(f"{path} is not a complete mambano checkpoint: it lacks {', '.join(missing)}")


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu", expect_model: str | None = None
) -> LoadedCheckpoint:
    """Read a checkpoint and rebuild its model with the stored weights.

    Parameters
    ----------
    expect_model
        If given, a checkpoint of another model raises :class:`CheckpointError`.
    """
    raw = read_checkpoint(path)
    name = raw["model_name"]
    if expect_model is not None and name.lower() != expect_model.lower():
        raise CheckpointError(f"{path} holds a {name!r} model, not {expect_model!r}")
    try:
        args = stored_model_args(name, dict(raw["model_args"]))
    except SpecError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    try:
        model = build_model(name, args)
        model.load_state_dict(raw["model_state"])
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot rebuild model {name!r} with {args}: {exc}") from None
    model.to(map_location)
    return LoadedCheckpoint(
        path=Path(path),
        model=model,
        model_name=name,
        model_args=args,
        spec=raw["spec"],
        normalization=Normalization.from_dict(raw["normalization"]),
        data=raw["data"],
        raw=raw,
    )
