"""Validation of model constructor arguments shared by every architecture."""

from __future__ import annotations

from mambano_core.errors import SpecError


def positive_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an integer (not a bool) >= ``minimum``; :class:`SpecError` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise SpecError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value
