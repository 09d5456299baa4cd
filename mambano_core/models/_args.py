"""Validation of model constructor arguments shared by every architecture."""

from __future__ import annotations

from torch import Tensor

from mambano_core.errors import SpecError


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an integer (not a bool) >= ``minimum``; :class:`SpecError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_grid_input(x: Tensor, in_channels: int, multiple: int, why: str) -> None:
    """Raise ValueError unless ``x`` is ``(B, in_channels, H, W)`` with H and W multiples of ``multiple``.

    ``why`` explains the multiple in the message, e.g. "CNO with 3 levels halves the grid 3 times".
    """
    if x.dim() != 4 or x.shape[1] != in_channels:
        raise ValueError(f"expected input of shape (batch, {in_channels}, H, W), got {tuple(x.shape)}")
    height, width = x.shape[-2:]
    if height % multiple or width % multiple:
        raise ValueError(f"grid size {height}x{width} is not divisible by {multiple} ({why})")
