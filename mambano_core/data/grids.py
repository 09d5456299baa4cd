"""Grid sizes a command accepts: one rule for generate, eval, predict and upsample."""

from __future__ import annotations

from mambano_core.errors import UsageError

#: The coarsest grid (the alias-free filters and the generators need a few points per side).
MIN_RESOLUTION = 8
#: The finest grid: a 4096^2 float64 field is 128 MiB per sample; beyond, a typo (100000) would
#: try to allocate hundreds of GB before failing.
MAX_RESOLUTION = 4096


def check_resolution(value: int, option: str = "--resolution") -> int:
    """``value`` if it is an integer in [MIN_RESOLUTION, MAX_RESOLUTION]; :class:`UsageError` otherwise.

    ``0`` is not "the default": callers pass ``None`` for that.
    """
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_RESOLUTION <= value <= MAX_RESOLUTION:
        raise UsageError(
            f"{option} must be a grid size from {MIN_RESOLUTION} to {MAX_RESOLUTION}, got {value!r}"
        )
    return value
