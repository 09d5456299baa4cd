"""Benchmark 6: incompressible Navier-Stokes, a perturbed thin double shear layer."""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np

from mambano_core.data.benchmarks._validate import check_real, check_request
from mambano_core.data.benchmarks.base import Benchmark, Boundary, Distribution, Sample
from mambano_core.data.seeding import sample_rng
from mambano_core.ops.resample import resample_fourier
from mambano_core.solvers.spectral_ns import (
    SpectralGrid,
    make_grid,
    solve_vorticity,
    velocity,
    vorticity_spectrum,
)

#: The perturbation has at most this many modes (the stored parameters alpha_k, beta_k).
MAX_PERTURBATION_MODES = 10


def shear_layer_velocity(y: np.ndarray, sigma: np.ndarray, rho: float) -> np.ndarray:
    """Horizontal velocity of the double shear layer displaced by ``sigma(x)``.

    With ``y' = (y + sigma(x)) mod 1``: ``tanh(2 pi (y' - 1/4) / rho)`` where ``y' <= 1/2``,
    ``tanh(2 pi (3/4 - y') / rho)`` elsewhere: layers at ``y = 1/4 - sigma(x)`` and
    ``3/4 - sigma(x)``, and the switch between the branches (where both are 1 to within
    ``2 exp(-2 pi / rho)``) at ``y = 1/2 - sigma(x)``.

    Parameters
    ----------
    y : numpy.ndarray
        Vertical coordinates, shape ``(P, 1)``.
    sigma : numpy.ndarray
        Displacement at the horizontal grid points, shape ``(1, P)``.
    rho : float
        Layer thickness parameter.

    Returns
    -------
    numpy.ndarray
        float64 array ``(P, P)`` indexed ``[y, x]``.
    """
    shifted = np.mod(y + sigma, 1.0)
    lower = np.tanh(2.0 * np.pi * (shifted - 0.25) / rho)
    upper = np.tanh(2.0 * np.pi * (0.75 - shifted) / rho)
    return np.where(shifted <= 0.5, lower, upper)


class NavierStokes(Benchmark):
    """Navier-Stokes: u_t + (u . grad) u + grad p = nu Laplace(u), div u = 0, periodic unit square.

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO): the thin
    shear layer. Input ``u0``: horizontal velocity at ``t = 0``; output ``uT``: horizontal
    velocity at ``T = 1``. Defaults ``nu = 4e-4``, ``rho = 0.1``, ``p = 10``, ID
    ``delta = 0.025``, OOD ``delta = 0.05``.

    Initial data: the double shear layer :func:`shear_layer_velocity` displaced by
    ``sigma(x) = delta sum_{k=1..p} alpha_k sin(2 pi k x - beta_k)``, ``alpha_k, beta_k ~ U[0, 1]``,
    with ``v = 0``, made divergence-free by taking its vorticity and recovering the velocity
    from the stream function (the Leray projection, keeping the mean velocity). The field is
    sampled on a grid ``init_oversample`` times finer than the solver's, and low-passed to the
    solver's dealiased modes.

    Solver (:func:`mambano_core.solvers.spectral_ns.solve_vorticity`): dealiased (2/3 rule)
    pseudo-spectral vorticity form at ``solver_resolution^2``, Lawson integrating-factor RK4
    with ``dt = cfl h / (max|u| + max|v|)``. Both fields are stored at the requested
    resolution by Fourier truncation/zero-padding of the solver-grid fields, as in the CNO
    data (spectral solver at 128^2, truncated to 64^2).

    Draw order per seed: ``alpha`` (``p`` values), then ``beta`` (``p`` values). Stored
    parameters ``alpha_k, beta_k`` for ``k = 1..10`` (0 for ``k > p``).
    """

    name: ClassVar[str] = "navier_stokes"
    boundary: ClassVar[Boundary] = "periodic"
    input_name: ClassVar[str] = "u0"
    output_name: ClassVar[str] = "uT"
    normalize: ClassVar[bool] = True
    reference_counts: ClassVar[dict[str, int]] = {"train": 750, "val": 128, "test_id": 128, "test_ood": 128}
    default_counts: ClassVar[dict[str, int]] = {"train": 128, "val": 32, "test_id": 32, "test_ood": 32}
    param_names: ClassVar[tuple[str, ...]] = tuple(
        f"{name}_{k}" for name in ("alpha", "beta") for k in range(1, MAX_PERTURBATION_MODES + 1)
    )

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        for key in ("nu", "T", "rho", "delta_id", "delta_ood", "cfl"):
            check_real(self.config, key, minimum=0.0)
        if not 0 < self.config["cfl"] <= 1.3 or self.config["rho"] <= 0:
            raise ValueError(f"need 0 < cfl <= 1.3 and rho > 0, got {self.config['cfl']}, {self.config['rho']}")
        _check_int(self.config, "p", 1, MAX_PERTURBATION_MODES)
        _check_int(self.config, "init_oversample", 1, 8)
        _check_int(self.config, "solver_resolution", 8, 4096)
        if self.config["solver_resolution"] % 2:
            raise ValueError(f"solver_resolution must be even, got {self.config['solver_resolution']}")

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Equation (``nu``, ``T``), initial data (``rho``, ``p``, ``delta_*``) and solver parameters."""
        return {
            "nu": 4e-4,
            "T": 1.0,
            "rho": 0.1,
            "p": 10,
            "delta_id": 0.025,
            "delta_ood": 0.05,
            "solver_resolution": 128,
            "cfl": 1.0,
            "init_oversample": 2,
        }

    def draw_params(self, seed: int, distribution: Distribution) -> dict[str, float]:
        """``alpha_k, beta_k`` (``k = 1..10``, zero for ``k > p``) in draw order."""
        rng = sample_rng(seed)
        n_modes = int(self.config["p"])
        alpha = np.zeros(MAX_PERTURBATION_MODES)
        beta = np.zeros(MAX_PERTURBATION_MODES)
        alpha[:n_modes] = rng.uniform(0.0, 1.0, size=n_modes)
        beta[:n_modes] = rng.uniform(0.0, 1.0, size=n_modes)
        params = {f"alpha_{k + 1}": float(alpha[k]) for k in range(MAX_PERTURBATION_MODES)}
        params.update({f"beta_{k + 1}": float(beta[k]) for k in range(MAX_PERTURBATION_MODES)})
        return params

    def perturbation(self, params: dict[str, float], distribution: Distribution, x: np.ndarray) -> np.ndarray:
        """``sigma(x) = delta sum_k alpha_k sin(2 pi k x - beta_k)`` at the points ``x``."""
        delta = float(self.config[f"delta_{distribution}"])
        sigma = np.zeros_like(x, dtype=np.float64)
        for k in range(1, int(self.config["p"]) + 1):
            sigma += params[f"alpha_{k}"] * np.sin(2.0 * np.pi * k * x - params[f"beta_{k}"])
        return delta * sigma

    def initial_state(
        self, params: dict[str, float], distribution: Distribution
    ) -> tuple[np.ndarray, tuple[float, float], SpectralGrid]:
        """Dealiased initial vorticity spectrum, mean velocity and solver grid."""
        grid = make_grid(int(self.config["solver_resolution"]))
        fine = grid.n * int(self.config["init_oversample"])
        x = (np.arange(fine, dtype=np.float64) / fine)[None, :]
        u = shear_layer_velocity(x.T, self.perturbation(params, distribution, x), float(self.config["rho"]))
        mean = (float(u.mean()), 0.0)
        w_hat = vorticity_spectrum(u, np.zeros_like(u), grid)
        return w_hat, mean, grid

    def solve(self, seed: int, distribution: Distribution) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
        """Horizontal velocity at ``t = 0`` and ``t = T`` on the solver grid, and the parameters."""
        params = self.draw_params(seed, distribution)
        w_hat, mean, grid = self.initial_state(params, distribution)
        u0 = velocity(w_hat, grid, mean)[0]
        w_final, _ = solve_vorticity(
            w_hat, grid, float(self.config["nu"]), float(self.config["T"]), mean=mean, cfl=float(self.config["cfl"])
        )
        return u0, velocity(w_final, grid, mean)[0], params

    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw ``(u0, u(T))`` for ``seed`` on the ``resolution x resolution`` grid."""
        check_request(distribution, resolution)
        u0, u_t, params = self.solve(seed, distribution)
        return Sample(
            input=resample_fourier(u0, resolution),
            output=resample_fourier(u_t, resolution),
            params=params,
        )


def _check_int(config: dict[str, Any], key: str, low: int, high: int) -> None:
    """``config[key]`` must be an integer in ``[low, high]``."""
    value = config[key]
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or not low <= int(value) <= high:
        raise ValueError(f"{key} must be an integer in [{low}, {high}], got {value!r}")
