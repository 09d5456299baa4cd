"""Gaussian random fields ``N(0, (-Laplace + tau^2 I)^(-alpha))`` on (0,1)^2 by spectral filtering.

Method: truncated Karhunen-Loeve expansion in the eigenfunctions of the Neumann Laplacian, as in
the GRF generator of Li et al., "Fourier Neural Operator for Parametric PDEs", ICLR 2021 (FNO)::

    mu(x, y) = sum_{i,j=0..K-1} xi_ij lambda_ij^(-alpha/2) phi_i(x) phi_j(y),
    lambda_ij = pi^2 (i^2 + j^2) + tau^2,   xi_ij ~ N(0, 1),
    phi_0 = 1,  phi_k(x) = sqrt(2) cos(pi k x)  (orthonormal on (0, 1)).

The field is a function of its ``K x K`` coefficients, which are drawn from the seed, so it can
be evaluated on any grid: the same sample exists at every resolution. Arrays are indexed
``[y, x]``; ``coeffs[j, i]`` multiplies ``phi_j(y) phi_i(x)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def grf_std(n_modes: int, tau: float, alpha: float, drop_constant: bool) -> np.ndarray:
    """Standard deviations ``lambda_ij^(-alpha/2)`` of the KL coefficients, shape ``(K, K)``.

    Parameters
    ----------
    n_modes : int
        ``K``, modes ``0..K-1`` per direction.
    tau : float
        Inverse length scale (``tau^2`` is the shift of the operator).
    alpha : float
        Exponent of the covariance operator ``(-Laplace + tau^2 I)^(-alpha)``.
    drop_constant : bool
        Set the constant mode ``(0, 0)`` to zero (FNO's choice, a field of zero mean).

    Returns
    -------
    numpy.ndarray
        float64 array ``(K, K)`` indexed ``[j, i]``.
    """
    k2 = np.arange(n_modes, dtype=np.float64) ** 2
    eigenvalues = np.pi**2 * (k2[:, None] + k2[None, :]) + float(tau) ** 2
    std = eigenvalues ** (-0.5 * float(alpha))
    if drop_constant:
        std[0, 0] = 0.0
    return std


def draw_grf_coefficients(
    rng: np.random.Generator, n_modes: int, tau: float, alpha: float, drop_constant: bool
) -> np.ndarray:
    """KL coefficients ``xi_ij lambda_ij^(-alpha/2)`` of one field (one ``(K, K)`` normal draw)."""
    return rng.standard_normal((n_modes, n_modes)) * grf_std(n_modes, tau, alpha, drop_constant)


@lru_cache(maxsize=32)
def _cosine_matrix_cached(n_intervals: int, n_points: int, n_modes: int) -> np.ndarray:
    n = np.arange(n_points, dtype=np.int64)
    k = np.arange(n_modes, dtype=np.int64)
    # phi_k(n / N) with the phase k n reduced exactly modulo 2N: bit-identical values at
    # points shared by two grids.
    phase = np.outer(n, k) % (2 * n_intervals)
    matrix = np.cos(np.pi * phase.astype(np.float64) / n_intervals)
    matrix[:, 1:] *= np.sqrt(2.0)
    matrix.setflags(write=False)
    return matrix


def cosine_matrix(n_intervals: int, n_points: int, n_modes: int) -> np.ndarray:
    """The ``(P, K)`` matrix ``phi_k(n / N)``, ``n = 0..P-1``, ``k = 0..K-1`` (read-only, cached)."""
    return _cosine_matrix_cached(int(n_intervals), int(n_points), int(n_modes))


def evaluate_grf(coeffs: np.ndarray, n_intervals: int, n_points: int) -> np.ndarray:
    """The field with KL coefficients ``coeffs`` at the points ``(m / N, n / N)``, ``m, n < P``.

    Parameters
    ----------
    coeffs : numpy.ndarray
        ``(Ky, Kx)`` coefficients indexed ``[j, i]`` (y mode, x mode).
    n_intervals : int
        ``N``: the grid spacing is ``1 / N``.
    n_points : int
        ``P``: points per direction (``N + 1`` for the closed square, ``N`` for the grid
        ``x_n = n / N``, ``n = 0..N-1``).

    Returns
    -------
    numpy.ndarray
        float64 array ``(P, P)`` indexed ``[y, x]``.
    """
    rows = cosine_matrix(n_intervals, n_points, coeffs.shape[0])
    columns = cosine_matrix(n_intervals, n_points, coeffs.shape[1])
    return rows @ coeffs @ columns.T
