"""Benchmarks 3 and 4: linear transport of a Gaussian bump or of a disk indicator."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from mambano_core.data.benchmarks._validate import check_pair, check_real, check_request
from mambano_core.data.benchmarks.base import Benchmark, Boundary, Distribution, Sample
from mambano_core.data.seeding import sample_rng

_COUNTS_REFERENCE = {"train": 512, "val": 256, "test_id": 256, "test_ood": 256}
_COUNTS_DEFAULT = {"train": 128, "val": 32, "test_id": 32, "test_ood": 32}


def periodic_offsets(resolution: int, centre: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-image offsets from ``centre = (cx, cy)`` on the periodic unit square.

    Parameters
    ----------
    resolution : int
        ``s``; grid ``x_n = n / s``, ``n = 0..s-1``, the same in y.
    centre : tuple of float
        ``(cx, cy)``, any real numbers (taken modulo 1).

    Returns
    -------
    tuple of numpy.ndarray
        ``(dy, dx)``: ``dy`` of shape ``(s, 1)`` and ``dx`` of shape ``(1, s)``, each in
        ``[-1/2, 1/2)``, broadcasting to fields indexed ``[y, x]``.
    """
    grid = Benchmark.grid(resolution)
    dx = np.mod(grid - centre[0] + 0.5, 1.0) - 0.5
    dy = np.mod(grid - centre[1] + 0.5, 1.0) - 0.5
    return dy[:, None], dx[None, :]


class _Transport(Benchmark):
    """Shared parts of the transport benchmarks: u_t + v . grad(u) = 0, periodic, u(T) = f(x - vT).

    Coordinates: fields are indexed ``[y, x]``, centres are ``c = (cx, cy)`` and the velocity
    ``v = (vx, vy)``. Draw order per seed: ``(cx, cy)`` in one call, then the shape parameter.
    """

    boundary: ClassVar[Boundary] = "periodic"
    input_name: ClassVar[str] = "u0"
    output_name: ClassVar[str] = "uT"
    normalize: ClassVar[bool] = False
    reference_counts: ClassVar[dict[str, int]] = _COUNTS_REFERENCE
    default_counts: ClassVar[dict[str, int]] = _COUNTS_DEFAULT
    #: Config key of the range the shape parameter is drawn from, and its stored name.
    shape_key: ClassVar[str]
    shape_name: ClassVar[str]

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**overrides)
        check_pair(self.config, "velocity", is_range=False)
        check_real(self.config, "T")
        for key in ("centre_range_id", "centre_range_ood"):
            check_pair(self.config, key, is_range=True)
        check_pair(self.config, self.shape_key, is_range=True, minimum=0.0)

    @classmethod
    def _common_config(cls) -> dict[str, Any]:
        return {
            "velocity": [0.2, -0.2],
            "T": 1.0,
            "centre_range_id": [0.2, 0.4],
            "centre_range_ood": [0.4, 0.6],
        }

    def draw_params(self, seed: int, distribution: Distribution) -> dict[str, float]:
        """Per-sample parameters ``cx, cy`` and the shape parameter, in draw order."""
        rng = sample_rng(seed)
        low, high = self.config[f"centre_range_{distribution}"]
        cx, cy = rng.uniform(low, high, size=2)
        shape = rng.uniform(*self.config[self.shape_key])
        return {"cx": float(cx), "cy": float(cy), self.shape_name: float(shape)}

    @abstractmethod
    def profile(self, dy: np.ndarray, dx: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """The initial profile as a function of the periodic offsets from its centre."""

    def sample(self, seed: int, distribution: Distribution, resolution: int) -> Sample:
        """Draw ``(u0, u(T))`` for ``seed`` on the ``resolution x resolution`` grid."""
        check_request(distribution, resolution)
        params = self.draw_params(seed, distribution)
        centre = (params["cx"], params["cy"])
        vx, vy = (float(v) for v in self.config["velocity"])
        t_final = float(self.config["T"])
        moved = (centre[0] + vx * t_final, centre[1] + vy * t_final)
        u0 = self.profile(*periodic_offsets(resolution, centre), params)
        u_t = self.profile(*periodic_offsets(resolution, moved), params)
        return Sample(input=u0, output=u_t, params=params)


class TransportSmooth(_Transport):
    """Smooth transport: u_t + v . grad(u) = 0 on the periodic unit square, u(T) = f(x - vT).

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO).
    ``f(x) = exp(-|x - c|^2 / (2 sigma^2))`` with ``|.|`` the minimum-image (periodic)
    distance, ``c ~ U(0.2, 0.4)^2`` (OOD ``U(0.4, 0.6)^2``), ``sigma^2 ~ U(0.003, 0.009)``,
    ``v = (vx, vy) = (0.2, -0.2)``, ``T = 1``. Grid ``x_n = n / s``, fields ``[y, x]``;
    stored parameters ``cx, cy, sigma2``. Data are used without normalisation.
    """

    name: ClassVar[str] = "transport_smooth"
    param_names: ClassVar[tuple[str, ...]] = ("cx", "cy", "sigma2")
    shape_key: ClassVar[str] = "sigma2_range"
    shape_name: ClassVar[str] = "sigma2"

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Velocity ``(vx, vy)``, final time, centre ranges (ID/OOD) and ``sigma^2`` range."""
        return {**cls._common_config(), "sigma2_range": [0.003, 0.009]}

    def profile(self, dy: np.ndarray, dx: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """Gaussian bump ``exp(-(dx^2 + dy^2) / (2 sigma^2))``."""
        return np.exp(-(dx**2 + dy**2) / (2.0 * params["sigma2"]))


class TransportDiscontinuous(_Transport):
    """Discontinuous transport: u_t + v . grad(u) = 0 on the periodic unit square, u(T) = f(x - vT).

    Benchmark of Raonic et al., "Convolutional Neural Operators", NeurIPS 2023 (CNO).
    ``f`` is the indicator of the disk ``|x - c| < R`` (minimum-image distance), point-sampled:
    the value at each grid point is exactly 0 or 1. ``c ~ U(0.2, 0.4)^2`` (OOD
    ``U(0.4, 0.6)^2``), ``R ~ U(0.1, 0.2)``, ``v = (vx, vy) = (0.2, -0.2)``, ``T = 1``. Grid
    ``x_n = n / s``, fields ``[y, x]``; stored parameters ``cx, cy, radius``.
    """

    name: ClassVar[str] = "transport_discontinuous"
    param_names: ClassVar[tuple[str, ...]] = ("cx", "cy", "radius")
    shape_key: ClassVar[str] = "radius_range"
    shape_name: ClassVar[str] = "radius"

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        """Velocity ``(vx, vy)``, final time, centre ranges (ID/OOD) and radius range."""
        return {**cls._common_config(), "radius_range": [0.1, 0.2]}

    def profile(self, dy: np.ndarray, dx: np.ndarray, params: dict[str, float]) -> np.ndarray:
        """Indicator ``1[dx^2 + dy^2 < R^2]`` as float64."""
        return (dx**2 + dy**2 < params["radius"] ** 2).astype(np.float64)
