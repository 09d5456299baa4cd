"""Benchmark 1: the Poisson equation with a rough sine-series source."""

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


class Poisson(Benchmark):
    """Poisson: -Laplace(u) = f on D = (0,1)^2, u = 0 on the boundary.

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO).

    Input ``f = sines(K, r, a)`` with ``r = -1/2`` (coefficients grow like ``|k|``); output
    ``u`` is exact: mode ``(i, j)`` of ``f`` divided by ``pi^2 (i^2 + j^2)``. ID ``K = 16``,
    OOD ``K = 20``. Grid ``x_n = n / s`` (``n = 0..s-1``), fields indexed ``[y, x]``.

    Draw order per seed: one ``(K, K)`` array ``a ~ U[-1, 1]`` (``K`` of the distribution).
    """

    name: ClassVar[str] = "poisson"
    boundary: ClassVar[Boundary] = "dirichlet"
    input_name: ClassVar[str] = "f"
    output_name: ClassVar[str] = "u"
    normalize: ClassVar[bool] = True
    reference_counts: ClassVar[dict[str, int]] = {"train": 1024, "val": 128, "test_id": 256, "test_ood": 256}
    default_counts: ClassVar[dict[str, int]] = {"train": 128, "val": 32, "test_id": 32, "test_ood": 32}
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        for key in ("K_id", "K_ood"):
            check_modes(self.config, key)
        check_real(self.config, "r")

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """``K_id``/``K_ood``: modes per direction; ``r``: decay exponent of the source."""
        return {"K_id": 16, "K_ood": 20, "r": -0.5}

    def source_coefficients(self, seed: int, distribution: Distribution) -> np.ndarray:
        """Sine coefficients ``(K, K)`` of ``f`` for ``seed``, indexed ``[j - 1, i - 1]``."""
        n_modes = int(self.config[f"K_{distribution}"])
        a = draw_coefficients(sample_rng(seed), n_modes)
        return sine_weights(n_modes, self.config["r"]) * a

    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw ``(f, u)`` for ``seed`` on the ``resolution x resolution`` grid."""
        check_request(distribution, resolution)
        f_hat = self.source_coefficients(seed, distribution)
        u_hat = f_hat / (np.pi**2 * mode_norm_squared(f_hat.shape[0]))
        return Sample(
            input=evaluate_sine_series(f_hat, resolution),
            output=evaluate_sine_series(u_hat, resolution),
        )
