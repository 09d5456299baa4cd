"""Checks of generator parameters and sample requests (raise ``ValueError`` with the key)."""

from __future__ import annotations

import numbers
from typing import Any

_DISTRIBUTIONS = ("id", "ood")


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_modes(config: dict[str, Any], key: str) -> None:
    """``config[key]`` must be an integer number of modes >= 1."""
    value = config[key]
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{key} must be an integer >= 1, got {value!r}")


def check_real(config: dict[str, Any], key: str, minimum: float | None = None) -> None:
    """``config[key]`` must be a real number, not NaN (``>= minimum`` if given; infinity passes)."""
    value = config[key]
    if not _is_real(value) or value != value:  # NaN compares unequal to itself and passes every bound
        raise ValueError(f"{key} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{key} must be >= {minimum}, got {value!r}")


def check_pair(config: dict[str, Any], key: str, *, is_range: bool, minimum: float | None = None) -> None:
    """``config[key]`` must be a list of two numbers (``low <= high`` if ``is_range``)."""
    value = config[key]
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(map(_is_real, value)):
        raise ValueError(f"{key} must be a list of two numbers, got {value!r}")
    if is_range and value[0] > value[1]:
        raise ValueError(f"{key} must be [low, high] with low <= high, got {value!r}")
    if minimum is not None and min(value) < minimum:
        raise ValueError(f"{key} values must be >= {minimum}, got {value!r}")


def check_request(distribution: str, resolution: int) -> None:
    """A sample request must name ``id``/``ood`` and an integer resolution >= 2."""
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
    if not isinstance(resolution, numbers.Integral) or isinstance(resolution, bool) or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
