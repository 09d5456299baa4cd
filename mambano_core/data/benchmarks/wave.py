"""Benchmark 2: the wave equation with a sine-series initial displacement."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mambano_core.data.benchmarks._validate import check_modes, check_real, check_request
from mambano_core.data.benchmarks.base import Benchmark, Boundary, Distribution, Sample
from mambano_core.data.benchmarks.sines import (
    draw_coefficients,
    evaluate_sine_series,
    mode_norm_squared,
    sine_weights,
)
from mambano_core.data.seeding import sample_rng


class Wave(Benchmark):
    """Wave: u_tt = c^2 Laplace(u) on D = (0,1)^2, u = 0 on the boundary, u(0) = f, u_t(0) = 0.

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO).

    Input ``u0 = f = sines(K, r, a)``; output ``u(T)`` is exact: each mode ``(i, j)`` of ``f``
    times ``cos(c pi T sqrt(i^2 + j^2))``. Defaults ``c = 0.1``, ``T = 5``; ID ``K = 24,
    r = 1``; OOD ``K = 32, r = 0.85``. Grid ``x_n = n / s`` (``n = 0..s-1``), fields
    indexed ``[y, x]``.

    Draw order per seed: one ``(K, K)`` array ``a ~ U[-1, 1]`` (``K`` of the distribution).
    """

    name: ClassVar[str] = "wave"
    boundary: ClassVar[Boundary] = "dirichlet"
    input_name: ClassVar[str] = "u0"
    output_name: ClassVar[str] = "uT"
    normalize: ClassVar[bool] = True
    reference_counts: ClassVar[dict[str, int]] = {"train": 512, "val": 128, "test_id": 256, "test_ood": 256}
    default_counts: ClassVar[dict[str, int]] = {"train": 128, "val": 32, "test_id": 32, "test_ood": 32}
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        for key in ("K_id", "K_ood"):
            check_modes(self.config, key)
        for key in ("r_id", "r_ood", "c"):
            check_real(self.config, key)
        check_real(self.config, "T", minimum=0.0)

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """``K_*``: modes per direction; ``r_*``: decay exponents; ``c``: speed; ``T``: time."""
        return {"K_id": 24, "r_id": 1.0, "K_ood": 32, "r_ood": 0.85, "c": 0.1, "T": 5.0}

    def initial_coefficients(self, seed: int, distribution: Distribution) -> np.ndarray:
        """Sine coefficients ``(K, K)`` of ``u0`` for ``seed``, indexed ``[j - 1, i - 1]``."""
        n_modes = int(self.config[f"K_{distribution}"])
        a = draw_coefficients(sample_rng(seed), n_modes)
        return sine_weights(n_modes, self.config[f"r_{distribution}"]) * a

    def propagator(self, n_modes: int) -> np.ndarray:
        """Per-mode factor ``cos(c pi T sqrt(i^2 + j^2))`` of the exact solution, ``(K, K)``."""
        c, t_final = float(self.config["c"]), float(self.config["T"])
        return np.cos(c * np.pi * t_final * np.sqrt(mode_norm_squared(n_modes)))

    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw ``(u0, u(T))`` for ``seed`` on the ``resolution x resolution`` grid."""
        check_request(distribution, resolution)
        u0_hat = self.initial_coefficients(seed, distribution)
        u_t_hat = u0_hat * self.propagator(u0_hat.shape[0])
        return Sample(
            input=evaluate_sine_series(u0_hat, resolution),
            output=evaluate_sine_series(u_t_hat, resolution),
        )
