"""Benchmark 8: steady compressible Euler flow past RAE 2822 airfoils deformed by Hicks-Henne bumps."""

from __future__ import annotations

import logging
import numbers
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.spatial import cKDTree

from mambano_core.data.benchmarks._validate import check_modes, check_real, check_request
from mambano_core.data.benchmarks.base import Benchmark, Boundary, Distribution, Sample
from mambano_core.data.seeding import sample_rng
from mambano_core.solvers.euler.geometry import Airfoil as AirfoilShape
from mambano_core.solvers.euler.geometry import hicks_henne, perturbed_rae2822, rae2822
from mambano_core.solvers.euler.grid import FLUID, airfoil_grid
from mambano_core.solvers.euler.solver import FlowConditions, SolverSettings, SteadyResult, sample_field, solve_steady

log = logging.getLogger("mambano.airfoil")

N_BUMPS = 5  # per surface; the stored parameters are named after it
_PARAM_NAMES = tuple(f"a_upper_{i}" for i in range(1, N_BUMPS + 1)) + tuple(
    f"a_lower_{i}" for i in range(1, N_BUMPS + 1)
) + ("residual", "cycles")


def airfoil_mask(input_field: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Boolean mask of the points inside the airfoil: the input field is 1 there and 0 outside."""
    return input_field > 0.5


def apply_airfoil_mask(
    prediction: torch.Tensor, target: torch.Tensor, input_field: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Set the points inside the airfoil to 1 in the prediction and the target.

    The benchmark's protocol (CNO, Raonic et al. 2023): errors are computed after this
    masking, so a model is neither rewarded nor penalised inside the body. Differentiable in
    ``prediction`` (``torch.where``).

    Parameters
    ----------
    prediction, target : torch.Tensor
        Densities, any shape broadcastable with ``input_field`` (e.g. ``(batch, 1, s, s)``).
    input_field : torch.Tensor
        The benchmark input (1 inside the airfoil, 0 outside), same grid.

    Returns
    -------
    tuple of torch.Tensor
        ``(prediction, target)`` with the inside points replaced by 1.
    """
    inside = airfoil_mask(input_field)
    one = torch.ones((), dtype=prediction.dtype, device=prediction.device)
    return torch.where(inside, one, prediction), torch.where(inside, one.to(target.dtype), target)


class Airfoil(Benchmark):
    """Airfoil: steady 2-D Euler flow past a deformed RAE 2822; input the shape mask, output the density.

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO). The shape is
    the RAE 2822 (:mod:`mambano_core.solvers.euler.geometry`) with Hicks-Henne bumps
    ``y = y_ref + sum_i a_i sin^3(pi x^q_i)`` on each surface, peaks ``p_i`` = ``bump_peaks``
    (``q_i = ln(1/2)/ln(p_i)``), amplitudes ``a_i = eps_i t_ref(p_i)`` with ``t_ref`` the RAE 2822
    thickness at the peak and ``eps_i ~ U[-A, A]``: ``A = amplitude_id`` (ID) or
    ``amplitude_ood`` (OOD, larger). The flow: free stream Mach ``mach`` at ``alpha_deg``,
    ``rho = p = 1`` at infinity, ``gamma``. Since data revision 2 (issue #18) the solver uses the
    point-vortex far field (``far_field_vortex``) and curvature-corrected wall ghosts
    (``curved_wall``), and freezes its limiter after repeated stalls from a residual of
    ``freeze_below`` times ``tol`` (300; revision 1: 30), going back to the state of the freeze if
    the frozen iteration's residual then rises ``unfreeze_above`` (30) times (revision 1: never).
    ``revision_1`` (``far_field_vortex = curved_wall = False``, ``freeze_below = 30``,
    ``unfreeze_above = inf``) reproduces revision 1's data bit for bit.

    Fields live on the Cartesian window ``window = [x0, x1, y0, y1]`` around the chord
    ``[0, 1] x {0}``: point ``(n, m)`` of an ``s x s`` sample is
    ``(x0 + (x1 - x0) m / s, y0 + (y1 - y0) n / s)``, indexed ``[y, x]``. Input: 1 where the point
    lies inside the airfoil, else 0 (exact, from the geometry, at any ``s``). Output: the steady
    density, bilinearly interpolated from the solver's cell centres (fluid cells only), and 1 at
    the points inside the airfoil. The solver (:func:`mambano_core.solvers.euler.solver.solve_steady`)
    runs on a fixed grid whatever ``s``, so a sample agrees at shared points across resolutions.

    Draw order per seed: ``N_BUMPS`` upper ``eps`` in one call, then ``N_BUMPS`` lower ones.
    Stored parameters: the amplitudes ``a_upper_i``, ``a_lower_i`` (chord units), the final RMS
    density residual ``residual`` and the number of multigrid ``cycles``.
    """

    name: ClassVar[str] = "airfoil"
    #: Every loss and error sees the body's points set to 1 in prediction and target.
    mask_for_error = staticmethod(apply_airfoil_mask)
    #: A window cut out of an unbounded flow: neither periodic nor zero on its edges, so it is
    #: resampled by linear interpolation (exact at shared points), not by a series (docs/airfoil.md).
    boundary: ClassVar[Boundary] = "open"
    input_name: ClassVar[str] = "mask"
    output_name: ClassVar[str] = "rho"
    normalize: ClassVar[bool] = False
    default_resolution: ClassVar[int] = 128
    reference_counts: ClassVar[dict[str, int]] = {"train": 750, "val": 128, "test_id": 128, "test_ood": 128}
    default_counts: ClassVar[dict[str, int]] = {"train": 16, "val": 4, "test_id": 4, "test_ood": 4}  # ~20 CPU minutes
    samples_per_task: ClassVar[int] = 1
    param_names: ClassVar[tuple[str, ...]] = _PARAM_NAMES
    #: The overrides that give data revision 1, bit for bit (docs/airfoil.md, "Data revisions").
    revision_1: ClassVar[dict[str, Any]] = {"far_field_vortex": False, "curved_wall": False, "freeze_below": 30.0,
                                            "unfreeze_above": float("inf")}

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        cfg = self.config
        for key in ("mach", "amplitude_id", "amplitude_ood", "solver_spacing", "far_field", "tol"):
            check_real(cfg, key, minimum=0.0)
        check_real(cfg, "alpha_deg")
        for key, low in (("gamma", 1.0), ("stretching", 1.0), ("cfl", 0.0), ("freeze_below", 1.0),
                         ("unfreeze_above", 1.0)):
            check_real(cfg, key, minimum=low)
        for key in ("levels", "max_cycles"):
            check_modes(cfg, key)
        for key in ("far_field_vortex", "curved_wall"):
            if not isinstance(cfg[key], bool):
                raise ValueError(f"{key} must be true or false, got {cfg[key]!r}")
        for key, size in (("bump_peaks", N_BUMPS), ("window", 4), ("core", 4)):
            value = cfg[key]
            if not isinstance(value, (list, tuple)) or len(value) != size or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in value
            ):
                raise ValueError(f"{key} must be a list of {size} numbers, got {value!r}")
        if not all(0.0 < p < 1.0 for p in cfg["bump_peaks"]):
            raise ValueError(f"bump_peaks must lie in (0, 1), got {cfg['bump_peaks']}")
        SolverSettings(flux=cfg["flux"], limiter=cfg["limiter"]).ids()
        worst = self.worst_thinning(max(cfg["amplitude_id"], cfg["amplitude_ood"]))
        if worst >= 0.9:
            raise ValueError(f"bump amplitudes can thin the airfoil by {worst:.0%}: reduce amplitude_id/ood")
        self._cache: tuple[tuple[int, str], SteadyResult, AirfoilShape] | None = None

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Flow, shape distributions (**(u)** choices), output window and solver settings."""
        return {
            "mach": 0.729,
            "alpha_deg": 2.31,
            "gamma": 1.4,
            "bump_peaks": [0.05, 0.2, 0.4, 0.6, 0.8],
            "amplitude_id": 0.1,
            "amplitude_ood": 0.2,
            "window": [-0.5, 1.5, -1.0, 1.0],
            "solver_spacing": 1.0 / 128.0,
            "core": [-0.25, 1.25, -0.35, 0.7],
            "far_field": 20.0,
            "far_field_vortex": True,
            "stretching": 1.1,
            "flux": "hllc",
            "limiter": "van_albada",
            "curved_wall": True,
            "freeze_below": 300.0,
            "unfreeze_above": 30.0,
            "levels": 5,
            "cfl": 10.0,
            "tol": 1e-5,
            "max_cycles": 1500,
        }

    def peak_thickness(self) -> np.ndarray:
        """RAE 2822 thickness at the bump peaks (the amplitude scale of each bump)."""
        return rae2822().thickness(np.asarray(self.config["bump_peaks"], dtype=np.float64))

    def worst_thinning(self, amplitude: float) -> float:
        """Largest relative loss of thickness when every bump pushes inwards with ``eps = amplitude``."""
        x = np.linspace(1e-3, 1.0 - 1e-3, 4001)
        bumps = hicks_henne(x, np.asarray(self.config["bump_peaks"], dtype=np.float64))
        loss = 2.0 * amplitude * (self.peak_thickness()[:, None] * bumps).sum(axis=0)
        return float(np.max(loss / rae2822().thickness(x)))

    def amplitudes(self, seed: int, distribution: Distribution) -> tuple[np.ndarray, np.ndarray]:
        """Bump amplitudes ``(a_upper, a_lower)`` (chord units) of sample ``seed``."""
        rng = sample_rng(seed)
        bound = float(self.config[f"amplitude_{distribution}"])
        eps_upper = rng.uniform(-bound, bound, size=N_BUMPS)
        eps_lower = rng.uniform(-bound, bound, size=N_BUMPS)
        scale = self.peak_thickness()
        return eps_upper * scale, eps_lower * scale

    def shape(self, seed: int, distribution: Distribution) -> AirfoilShape:
        """The airfoil of sample ``seed``."""
        a_upper, a_lower = self.amplitudes(seed, distribution)
        return perturbed_rae2822(a_upper, a_lower, np.asarray(self.config["bump_peaks"], dtype=np.float64))

    def flow(self) -> FlowConditions:
        """Free-stream conditions."""
        cfg = self.config
        return FlowConditions(mach=float(cfg["mach"]), alpha_deg=float(cfg["alpha_deg"]), gamma=float(cfg["gamma"]))

    def settings(self) -> SolverSettings:
        """Solver settings."""
        cfg = self.config
        return SolverSettings(flux=cfg["flux"], limiter=cfg["limiter"], levels=int(cfg["levels"]),
                              cfl=float(cfg["cfl"]), tol=float(cfg["tol"]), max_cycles=int(cfg["max_cycles"]),
                              far_field_vortex=cfg["far_field_vortex"], curved_wall=cfg["curved_wall"],
                              freeze_below=float(cfg["freeze_below"]),
                              unfreeze_above=float(cfg["unfreeze_above"]))

    def solve(self, seed: int, distribution: Distribution) -> tuple[SteadyResult, AirfoilShape]:
        """The steady flow of sample ``seed`` (the last one is kept, so other resolutions are free)."""
        key = (int(seed), str(distribution))
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1], self._cache[2]
        cfg = self.config
        shape = self.shape(seed, distribution)
        grid = airfoil_grid(float(cfg["solver_spacing"]), tuple(cfg["core"]), float(cfg["far_field"]),
                            float(cfg["stretching"]), 2 ** (int(cfg["levels"]) - 1))
        result = solve_steady(grid, shape, self.flow(), self.settings())
        if not result.converged:
            log.warning("airfoil sample %d: residual %.2e after %d cycles (tol %.1e)",
                        seed, result.residual, result.cycles, cfg["tol"])
        self._cache = (key, result, shape)
        return result, shape

    def points(self, resolution: int) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates ``(X, Y)`` ``(s, s)`` of the sample points, indexed ``[y, x]``."""
        x0, x1, y0, y1 = (float(v) for v in self.config["window"])
        grid = self.grid(resolution)
        return np.meshgrid(x0 + (x1 - x0) * grid, y0 + (y1 - y0) * grid)

    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw ``(mask, rho)`` for ``seed`` on the ``resolution x resolution`` window grid."""
        check_request(distribution, resolution)
        result, shape = self.solve(seed, distribution)
        X, Y = self.points(resolution)
        inside = shape.contains(X, Y)
        rho = sample_field(result, result.W[0], X, Y)
        missing = np.isnan(rho) & ~inside
        if np.any(missing):  # outside the body but no fluid cell around: nearest fluid cell
            fj, fi = np.nonzero(result.body.kind == FLUID)
            tree = cKDTree(np.column_stack([result.grid.xc[fi], result.grid.yc[fj]]))
            _, k = tree.query(np.column_stack([X[missing], Y[missing]]))
            rho[missing] = result.W[0, fj[k], fi[k]]
        rho[inside] = 1.0
        a_upper, a_lower = self.amplitudes(seed, distribution)
        params = {f"a_upper_{i + 1}": float(a) for i, a in enumerate(a_upper)}
        params.update({f"a_lower_{i + 1}": float(a) for i, a in enumerate(a_lower)})
        params.update({"residual": float(result.residual), "cycles": float(result.cycles)})
        return Sample(input=inside.astype(np.float64), output=rho, params=params)

