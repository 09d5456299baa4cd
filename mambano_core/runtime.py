"""Process-level helpers every command shares: the compute device, seeding, and malloc tuning."""

from __future__ import annotations

import random

import numpy as np
import torch

from mambano_core.errors import SpecError
from mambano_core.memory import keep_freed_memory

__all__ = ["keep_freed_memory", "resolve_device", "seed_everything"]


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; otherwise the named device.

    Raises
    ------
    SpecError
        For a malformed name, or CUDA asked for on a machine without it.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise SpecError(f"training.device: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SpecError("training.device is cuda but no CUDA device is available (use auto or cpu)")
    return device


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
