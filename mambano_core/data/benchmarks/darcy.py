"""Benchmark 7: Darcy flow with a piecewise-constant coefficient thresholded from a Gaussian field."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from mambano_core.data.benchmarks._validate import check_modes, check_real, check_request
from mambano_core.data.benchmarks.base import Benchmark, Boundary, Distribution, Sample
from mambano_core.data.seeding import sample_rng
from mambano_core.solvers.darcy_fv import solve_darcy
from mambano_core.solvers.grf import draw_grf_coefficients, evaluate_grf


class Darcy(Benchmark):
    """Darcy: -div(a grad u) = f on D = (0,1)^2, u = 0 on the boundary, f = 1.

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO), with the
    coefficient distribution of Li et al., "Fourier Neural Operator for Parametric Partial
    Differential Equations", ICLR 2021 (FNO): ``a = 12`` where ``mu >= 0`` and ``a = 3`` where
    ``mu < 0``, ``mu ~ N(0, (-Laplace + tau^2 I)^(-alpha))`` with the Neumann Laplacian,
    ``alpha = 2``, ID ``tau = 3`` and OOD ``tau = 4`` (a shorter correlation length). Input
    ``a``, output ``u``.

    ``mu`` is a cosine (Neumann) Karhunen-Loeve series with ``n_modes x n_modes`` coefficients
    drawn from the seed (:mod:`mambano_core.solvers.grf`); like FNO's generator the constant
    mode is dropped by default (``drop_constant_mode``).

    Grid: fields are stored at ``x_n = n / s``, ``n = 0..s-1``, indexed ``[y, x]`` (``u = 0`` in
    row/column 0; the boundary ``x = 1`` is not stored). The solver
    (:func:`mambano_core.solvers.darcy_fv.solve_darcy`, vertex-centred finite volumes) runs on
    the nodes ``i / N``, ``i = 0..N``, with ``N = s * ceil(solver_resolution / s)``: the stored
    values are the solver's nodal values at every ``N / s``-th node, and ``a`` is the
    thresholded field at the same nodes. For every ``s`` dividing ``solver_resolution`` (64,
    128, 256 with the default 256) ``N`` is the same, so a sample is identical at shared points.

    Draw order per seed: one ``(n_modes, n_modes)`` standard normal array.
    """

    name: ClassVar[str] = "darcy"
    boundary: ClassVar[Boundary] = "dirichlet"
    input_name: ClassVar[str] = "a"
    output_name: ClassVar[str] = "u"
    normalize: ClassVar[bool] = True
    reference_counts: ClassVar[dict[str, int]] = {"train": 256, "val": 128, "test_id": 128, "test_ood": 128}
    default_counts: ClassVar[dict[str, int]] = {"train": 128, "val": 32, "test_id": 32, "test_ood": 32}
    param_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        for key in ("n_modes", "solver_resolution"):
            check_modes(self.config, key)
        for key in ("tau_id", "tau_ood", "alpha", "a_high", "a_low"):
            check_real(self.config, key, minimum=0.0)
        check_real(self.config, "source")
        check_real(self.config, "threshold")
        if min(self.config["a_high"], self.config["a_low"]) <= 0:
            raise ValueError("a_high and a_low must be positive")
        if not isinstance(self.config["drop_constant_mode"], bool):
            raise ValueError(f"drop_constant_mode must be a bool, got {self.config['drop_constant_mode']!r}")

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Field (``tau_*``, ``alpha``, modes), coefficient values, source and solver grid."""
        return {
            "tau_id": 3.0,
            "tau_ood": 4.0,
            "alpha": 2.0,
            "n_modes": 128,
            "drop_constant_mode": True,
            "threshold": 0.0,
            "a_high": 12.0,
            "a_low": 3.0,
            "source": 1.0,
            "solver_resolution": 256,
        }

    def solver_intervals(self, resolution: int) -> int:
        """``N = s * ceil(solver_resolution / s)``: the solver grid for output resolution ``s``."""
        return resolution * math.ceil(int(self.config["solver_resolution"]) / resolution)

    def field_coefficients(self, seed: int, distribution: Distribution) -> np.ndarray:
        """Karhunen-Loeve coefficients ``(K, K)`` of ``mu`` for ``seed``."""
        return draw_grf_coefficients(
            sample_rng(seed),
            int(self.config["n_modes"]),
            tau=float(self.config[f"tau_{distribution}"]),
            alpha=float(self.config["alpha"]),
            drop_constant=bool(self.config["drop_constant_mode"]),
        )

    def coefficient(self, mu: np.ndarray) -> np.ndarray:
        """``a = a_high`` where ``mu >= threshold``, else ``a_low``."""
        return np.where(
            mu >= float(self.config["threshold"]), float(self.config["a_high"]), float(self.config["a_low"])
        )

    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw ``(a, u)`` for ``seed`` on the ``resolution x resolution`` grid."""
        check_request(distribution, resolution)
        n = self.solver_intervals(resolution)
        a = self.coefficient(evaluate_grf(self.field_coefficients(seed, distribution), n, n + 1))
        u = solve_darcy(a, float(self.config["source"]))
        stride = n // resolution
        return Sample(input=a[:-1:stride, :-1:stride].copy(), output=u[:-1:stride, :-1:stride].copy())
