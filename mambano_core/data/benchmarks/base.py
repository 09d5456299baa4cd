"""The interface every benchmark generator implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

Boundary = Literal["dirichlet", "periodic", "open"]
Distribution = Literal["id", "ood"]

# Which distribution each split is drawn from.
SPLIT_DISTRIBUTION: dict[str, Distribution] = {
    "train": "id",
    "val": "id",
    "test_id": "id",
    "test_ood": "ood",
}


@dataclass(frozen=True)
class Sample:
    """One generated sample on an ``s x s`` grid.

    ``input`` and ``output`` are float64 arrays of shape ``(s, s)`` indexed ``[y, x]``;
    ``params`` holds the scalar per-sample parameters (stored as 1-D variables).
    """

    input: np.ndarray
    output: np.ndarray
    params: dict[str, float] = field(default_factory=dict)


class Benchmark(ABC):
    """A PDE benchmark: a distribution of (input, output) function pairs on the unit square.

    Class attributes describe the benchmark; :meth:`sample` draws one sample from its seed
    and evaluates it on any grid, so the same seed gives the same function at every
    resolution.
    """

    name: ClassVar[str]
    #: Boundary condition of the fields, which decides the grid and the resampling:
    #: ``dirichlet`` -> grid x_i = i/s (i = 0..s-1) and sine-series resampling;
    #: ``periodic``  -> grid x_i = i/s and Fourier resampling;
    #: ``open``      -> grid x_i = i/s on a window cut out of a larger domain (no boundary
    #: condition on its edges) and linear-interpolation resampling.
    boundary: ClassVar[Boundary]
    input_name: ClassVar[str]
    output_name: ClassVar[str]
    #: Min-max normalise with training statistics (False: used as they are).
    normalize: ClassVar[bool] = True
    default_resolution: ClassVar[int] = 64
    #: Sample counts of the reference protocol (train, val, test_id, test_ood).
    reference_counts: ClassVar[dict[str, int]]
    #: Small laptop defaults.
    default_counts: ClassVar[dict[str, int]] = {"train": 128, "val": 32, "test_id": 32, "test_ood": 32}
    #: Samples per generation task (one chunk file); lower it for expensive solvers.
    samples_per_task: ClassVar[int] = 32
    #: Per-sample scalar parameters stored as 1-D variables (names, in order).
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **overrides: Any) -> None:
        """Generator parameters; ``overrides`` replace entries of :meth:`default_config`."""
        config = self.default_config()
        unknown = set(overrides) - set(config)
        if unknown:
            raise ValueError(f"unknown parameters for {self.name}: {sorted(unknown)}")
        config.update(overrides)
        self.config: dict[str, Any] = config

    @classmethod
    @abstractmethod
    def default_config(cls) -> dict[str, Any]:
        """JSON-serialisable generator parameters (ID and OOD settings, constants)."""

    @abstractmethod
    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw the sample defined by ``seed`` from ``distribution`` on a ``resolution`` grid."""

    @staticmethod
    def mask_for_error(prediction: Any, target: Any, inputs: Any) -> tuple[Any, Any]:
        """Prediction and target as every loss and error must see them (tensors, same shapes).

        The identity here; a benchmark whose protocol fixes some points (the airfoil sets the
        points inside the body to 1 in both) overrides it.
        """
        return prediction, target

    @staticmethod
    def grid(resolution: int) -> np.ndarray:
        """Grid coordinates x_i = i / s, i = 0..s-1 (the same for y)."""
        return np.arange(resolution, dtype=np.float64) / resolution
