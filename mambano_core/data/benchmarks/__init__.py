"""Benchmark registry: every benchmark generator is found by its name.

Generators are imported lazily (``"module:Class"`` strings), so listing the benchmarks or
building one does not import the others. A new benchmark registers itself by adding its
entry to ``_BUILTIN`` below, or at run time with :func:`register_benchmark`.
"""

from __future__ import annotations

import importlib
from typing import Any

from mambano_core.data.benchmarks.base import SPLIT_DISTRIBUTION, Benchmark, Boundary, Distribution, Sample
from mambano_core.errors import SpecError

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

# name -> "module:Class"; later benchmarks (allen_cahn, navier_stokes, darcy, airfoil) add a line.
_BUILTIN: dict[str, str] = {
    "poisson": f"{_PACKAGE}.poisson:Poisson",
    "wave": f"{_PACKAGE}.wave:Wave",
    "transport_smooth": f"{_PACKAGE}.transport:TransportSmooth",
    "transport_discontinuous": f"{_PACKAGE}.transport:TransportDiscontinuous",
    "allen_cahn": f"{_PACKAGE}.allen_cahn:AllenCahn",
    "navier_stokes": f"{_PACKAGE}.navier_stokes:NavierStokes",
    "darcy": f"{_PACKAGE}.darcy:Darcy",
    "airfoil": f"{_PACKAGE}.airfoil:Airfoil",
}

_REGISTRY: dict[str, str] = dict(_BUILTIN)


def register_benchmark(name: str, target: str) -> None:
    """Register the benchmark class ``target`` (``"package.module:Class"``) under ``name``.

    Parameters
    ----------
    name : str
        The benchmark's name (its class attribute ``name``).
    target : str
        Import path of the class, ``"package.module:Class"``; imported on first use.

    Raises
    ------
    ValueError
        If ``target`` is malformed or ``name`` is already registered to another target.
    """
    if target.count(":") != 1:
        raise ValueError(f"benchmark target must be 'module:Class', got {target!r}")
    if _REGISTRY.get(name, target) != target:
        raise ValueError(f"benchmark {name!r} is already registered as {_REGISTRY[name]!r}")
    _REGISTRY[name] = target


def available_benchmarks() -> list[str]:
    """Names of all registered benchmarks, sorted."""
    return sorted(_REGISTRY)


def get_benchmark_class(name: str) -> type[Benchmark]:
    """The generator class registered under ``name``.

    Raises
    ------
    mambano_core.errors.SpecError
        If no benchmark is registered under ``name``.
    """
    if name not in _REGISTRY:
        known = ", ".join(available_benchmarks())
        raise SpecError(f"unknown benchmark {name!r}; known benchmarks: {known}")
    module_name, class_name = _REGISTRY[name].split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Benchmark)) or cls.name != name:
        raise TypeError(f"{_REGISTRY[name]} is not the Benchmark subclass named {name!r}")
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
