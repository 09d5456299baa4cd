"""Benchmark registry: every benchmark generator is found by its name.

Generators are imported lazily (``"module:Class"`` strings in a
:class:`~mambano_core.registry.Registry`, the mechanism the models use too), so listing the
benchmarks or building one does not import the others. Register a new one with
:func:`register_benchmark`. The registration order is the order of the reference table.
"""

from __future__ import annotations

from typing import Any

from mambano_core.data.benchmarks.base import SPLIT_DISTRIBUTION, Benchmark, Boundary, Distribution, Sample
from mambano_core.errors import SpecError
from mambano_core.registry import Registry

__all__ = [
    "SPLIT_DISTRIBUTION",
    "Benchmark",
    "Boundary",
    "Distribution",
    "Sample",
    "available_benchmarks",
    "get_benchmark",
    "get_benchmark_class",
    "register_benchmark",
]

_PACKAGE = "mambano_core.data.benchmarks"

#: The eight benchmarks of CNO's reference table (Raonic et al., NeurIPS 2023), in its order.
BENCHMARKS: Registry[Benchmark] = Registry("benchmark", Benchmark, {
    "poisson": f"{_PACKAGE}.poisson:Poisson",
    "wave": f"{_PACKAGE}.wave:Wave",
    "transport_smooth": f"{_PACKAGE}.transport:TransportSmooth",
    "transport_discontinuous": f"{_PACKAGE}.transport:TransportDiscontinuous",
    "allen_cahn": f"{_PACKAGE}.allen_cahn:AllenCahn",
    "navier_stokes": f"{_PACKAGE}.navier_stokes:NavierStokes",
    "darcy": f"{_PACKAGE}.darcy:Darcy",
    "airfoil": f"{_PACKAGE}.airfoil:Airfoil",
})


def register_benchmark(name: str, target: str | type[Benchmark]) -> None:
    """Register the benchmark class ``target`` (``"package.module:Class"`` or the class) under ``name``.

    Raises
    ------
    ValueError
        If ``target`` is malformed or ``name`` is already registered to another target.
    """
    BENCHMARKS.register(name, target)


def available_benchmarks() -> list[str]:
    """Names of all registered benchmarks, in registration order (the reference table's)."""
    return BENCHMARKS.names()


def get_benchmark_class(name: str) -> type[Benchmark]:
    """The generator class registered under ``name``.

    Raises
    ------
    mambano_core.errors.SpecError
        If no benchmark is registered under ``name``.
    """
    cls = BENCHMARKS.get(name)
    if cls.name != name:
        raise TypeError(f"{cls.__qualname__} is registered as benchmark {name!r} but is named {cls.name!r}")
    return cls


def get_benchmark(name: str, **overrides: Any) -> Benchmark:
    """Build the benchmark ``name`` with generator parameters ``overrides``.

    Parameters
    ----------
    name : str
        A name from :func:`available_benchmarks`.
    **overrides
        Entries replacing those of the benchmark's ``default_config()``.

    Returns
    -------
    Benchmark
        The configured generator.

    Raises
    ------
    mambano_core.errors.SpecError
        If the name is unknown, or a parameter is unknown or invalid.
    """
    cls = get_benchmark_class(name)
    try:
        return cls(**overrides)
    except ValueError as exc:
        raise SpecError(f"benchmark {name!r}: {exc}") from exc
