"""Min-max normalisation to [0, 1] with statistics of the training split (CNO protocol)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

if TYPE_CHECKING:  # generation must not pay for importing torch
    import torch

ArrayLike = TypeVar("ArrayLike", np.ndarray, "torch.Tensor")


@dataclass(frozen=True)
class Normalization:
    """Affine maps of input and output fields to [0, 1]: v -> (v - min) / (max - min).

    The identity (min 0, max 1) is used for benchmarks whose data are used as they are.
    """

    input_min: float = 0.0
    input_max: float = 1.0
    output_min: float = 0.0
    output_max: float = 1.0

    @classmethod
    def identity(cls) -> "Normalization":
        """No normalisation."""
        return cls()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Normalization":
        """Rebuild from :meth:`to_dict` output."""
        return cls(**{key: float(data[key]) for key in ("input_min", "input_max", "output_min", "output_max")})

    def to_dict(self) -> dict[str, float]:
        """JSON-safe dict."""
        return {key: float(value) for key, value in asdict(self).items()}

    @staticmethod
    def _scale(lo: float, hi: float) -> float:
        return hi - lo if hi > lo else 1.0

    def encode_input(self, value: ArrayLike) -> ArrayLike:
        """Physical input -> normalised input."""
        return (value - self.input_min) / self._scale(self.input_min, self.input_max)

    def encode_output(self, value: ArrayLike) -> ArrayLike:
        """Physical output -> normalised output."""
        return (value - self.output_min) / self._scale(self.output_min, self.output_max)

    def decode_output(self, value: ArrayLike) -> ArrayLike:
        """Normalised output -> physical output (used by ``predict``)."""
        return value * self._scale(self.output_min, self.output_max) + self.output_min


class RunningMinMax:
    """Streaming min and max over chunks of samples."""

    def __init__(self) -> None:
        self.minimum = np.inf
        self.maximum = -np.inf

    def update(self, values: np.ndarray) -> None:
        """Include ``values``."""
        self.minimum = min(self.minimum, float(np.min(values)))
        self.maximum = max(self.maximum, float(np.max(values)))
