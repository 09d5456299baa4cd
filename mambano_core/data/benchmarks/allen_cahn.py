"""Benchmark 5: the Allen-Cahn equation with a sine-series initial condition."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from mambano_core.data.benchmarks._validate import check_modes, check_pair, check_real, check_request
from mambano_core.data.benchmarks.base import Benchmark, Boundary, Distribution, Sample
from mambano_core.data.benchmarks.sines import draw_coefficients, evaluate_sine_series, sine_weights
from mambano_core.data.seeding import sample_rng
from mambano_core.solvers.allen_cahn import solve_allen_cahn


class AllenCahn(Benchmark):
    """Allen-Cahn: u_t = Laplace(u) - eps^2 u (u^2 - 1) on D = (0,1)^2, u = 0 on the boundary.

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO).

    Input ``u0 = sines(K, r, a)``; output ``u(T)``. Defaults ``eps = 220``, ``T = 0.0002``;
    ID ``K = 24, r = 1``; OOD ``K = 16`` with ``r ~ U[0.85, 1.15]`` per sample. Grid
    ``x_n = n / s`` (``n = 0..s-1``), fields indexed ``[y, x]``; stored parameter ``r``.

    Solver (:func:`mambano_core.solvers.allen_cahn.solve_allen_cahn`): Strang splitting of the
    exact heat flow in the sine basis and the exact reaction flow, ``n_steps`` equal steps on a
    fixed grid of ``solver_resolution`` intervals that does not depend on the requested grid.
    The output is the solver's sine series evaluated at the requested points: when ``s``
    divides ``solver_resolution`` these are the solver's own grid values, so a sample agrees
    at shared points across resolutions (to rounding); for other ``s`` it is the band-limited
    interpolant, and for ``s > solver_resolution`` raise ``solver_resolution``.

    Draw order per seed: one ``(K, K)`` array ``a ~ U[-1, 1]``, then (OOD only) ``r``.
    """

    name: ClassVar[str] = "allen_cahn"
    boundary: ClassVar[Boundary] = "dirichlet"
    input_name: ClassVar[str] = "u0"
    output_name: ClassVar[str] = "uT"
    normalize: ClassVar[bool] = True
    reference_counts: ClassVar[dict[str, int]] = {"train": 256, "val": 128, "test_id": 128, "test_ood": 128}
    default_counts: ClassVar[dict[str, int]] = {"train": 128, "val": 32, "test_id": 32, "test_ood": 32}
    param_names: ClassVar[tuple[str, ...]] = ("r",)

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        for key in ("K_id", "K_ood", "n_steps"):
            check_modes(self.config, key)
        check_modes(self.config, "solver_resolution")
        check_real(self.config, "r_id")
        check_pair(self.config, "r_ood_range", is_range=True)
        check_real(self.config, "eps", minimum=0.0)
        check_real(self.config, "T", minimum=0.0)
        largest = max(self.config["K_id"], self.config["K_ood"])
        if self.config["solver_resolution"] <= largest:
            raise ValueError(f"solver_resolution must exceed the number of modes {largest}")

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Equation (``eps``, ``T``), data (``K_*``, ``r_*``) and solver (grid, steps) parameters."""
        return {
            "eps": 220.0,
            "T": 0.0002,
            "K_id": 24,
            "r_id": 1.0,
            "K_ood": 16,
            "r_ood_range": [0.85, 1.15],
            "solver_resolution": 256,
            "n_steps": 200,
        }

    def initial_coefficients(self, seed: int, distribution: Distribution) -> tuple[np.ndarray, float]:
        """Sine coefficients ``(K, K)`` of ``u0`` for ``seed`` (indexed ``[j-1, i-1]``) and ``r``."""
        rng = sample_rng(seed)
        n_modes = int(self.config[f"K_{distribution}"])
        a = draw_coefficients(rng, n_modes)
        r = float(self.config["r_id"]) if distribution == "id" else float(rng.uniform(*self.config["r_ood_range"]))
        return sine_weights(n_modes, r) * a, r

    def final_coefficients(self, u0_hat: np.ndarray) -> np.ndarray:
        """Sine coefficients of ``u(T)`` on the solver grid, shape ``(N - 1, N - 1)``."""
        return solve_allen_cahn(
            u0_hat,
            eps=float(self.config["eps"]),
            t_final=float(self.config["T"]),
            n=int(self.config["solver_resolution"]),
            n_steps=int(self.config["n_steps"]),
        )

    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw ``(u0, u(T))`` for ``seed`` on the ``resolution x resolution`` grid."""
        check_request(distribution, resolution)
        u0_hat, r = self.initial_coefficients(seed, distribution)
        u_t_hat = self.final_coefficients(u0_hat)
        return Sample(
            input=evaluate_sine_series(u0_hat, resolution),
            output=evaluate_sine_series(u_t_hat, resolution),
            params={"r": r},
        )
