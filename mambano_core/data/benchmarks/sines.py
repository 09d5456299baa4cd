"""The sine-series function family of the CNO benchmarks (Raonic et al., NeurIPS 2023).

sines(K, r, a) = (pi / K^2) sum_{i,j=1..K} a_ij (i^2 + j^2)^(-r) sin(pi i x) sin(pi j y),
with a_ij ~ U[-1, 1], evaluated on the grid x_n = n / s (n = 0..s-1) in x and in y.

Array conventions used throughout this module:

- fields are indexed ``[y, x]``;
- coefficient arrays are indexed like the fields, ``coeffs[j - 1, i - 1]`` multiplies
  ``sin(pi j y) sin(pi i x)`` (first axis: y mode ``j``, second axis: x mode ``i``).

Since ``a`` is i.i.d. the assignment of the drawn array's axes to (y, x) does not change the
distribution; it is fixed here so that a seed always gives the same function.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def draw_coefficients(rng: np.random.Generator, n_modes: int) -> np.ndarray:
    """Draw the ``(K, K)`` array ``a_ij ~ U[-1, 1]`` (one call, row-major order).

    Parameters
    ----------
    rng : numpy.random.Generator
        The sample's generator (see :func:`mambano_core.data.seeding.sample_rng`).
    n_modes : int
        ``K``, the number of modes per direction.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(K, K)`` indexed ``[j - 1, i - 1]`` (y mode, x mode).
    """
    return rng.uniform(-1.0, 1.0, size=(n_modes, n_modes))


def mode_norm_squared(n_modes: int) -> np.ndarray:
    """``i^2 + j^2`` for ``i, j = 1..K`` as a ``(K, K)`` float64 array (symmetric)."""
    k = np.arange(1, n_modes + 1, dtype=np.float64)
    return k[:, None] ** 2 + k[None, :] ** 2


def sine_weights(n_modes: int, r: float) -> np.ndarray:
    """The deterministic factor ``(pi / K^2) (i^2 + j^2)^(-r)`` of ``sines(K, r, a)``.

    Parameters
    ----------
    n_modes : int
        ``K``.
    r : float
        Decay exponent (negative: the coefficients grow with the wavenumber).

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(K, K)``.
    """
    return (np.pi / n_modes**2) * mode_norm_squared(n_modes) ** (-float(r))


@lru_cache(maxsize=64)
def _sine_matrix_cached(resolution: int, n_modes: int) -> np.ndarray:
    n = np.arange(resolution, dtype=np.int64)
    k = np.arange(1, n_modes + 1, dtype=np.int64)
    # sin(pi k n / s) with the phase k n reduced exactly modulo 2 s: the value at a grid point
    # shared by two resolutions (n/s == 2n/2s) is then bit-identical at both.
    phase = np.outer(n, k) % (2 * resolution)
    matrix = np.sin(np.pi * phase.astype(np.float64) / resolution)
    matrix.setflags(write=False)
    return matrix


def sine_matrix(resolution: int, n_modes: int) -> np.ndarray:
    """The ``(s, K)`` matrix ``S[n, k - 1] = sin(pi k n / s)`` (read-only, cached).

    Parameters
    ----------
    resolution : int
        ``s``, the number of grid points ``x_n = n / s``, ``n = 0..s-1``.
    n_modes : int
        ``K``, the number of modes ``k = 1..K``.

    Returns
    -------
    numpy.ndarray
        Read-only float64 array of shape ``(s, K)``.
    """
    return _sine_matrix_cached(int(resolution), int(n_modes))


def evaluate_sine_series(coeffs: np.ndarray, resolution: int) -> np.ndarray:
    """Evaluate ``sum_{j,i} coeffs[j-1, i-1] sin(pi j y) sin(pi i x)`` on the ``s x s`` grid.

    Parameters
    ----------
    coeffs : numpy.ndarray
        Array of shape ``(Ky, Kx)`` indexed ``[y mode - 1, x mode - 1]``.
    resolution : int
        ``s``; the grid is ``x_n = n / s``, ``n = 0..s-1``, the same in y.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(s, s)`` indexed ``[y, x]``.
    """
    coeffs = np.asarray(coeffs, dtype=np.float64)
    if coeffs.ndim != 2:
        raise ValueError(f"coefficients must be a 2-D array, got shape {coeffs.shape}")
    s_y = sine_matrix(resolution, coeffs.shape[0])
    s_x = sine_matrix(resolution, coeffs.shape[1])
    return s_y @ coeffs @ s_x.T


def sines(n_modes: int, r: float, a: np.ndarray, resolution: int) -> np.ndarray:
    """``sines(K, r, a)`` of the CNO paper on the ``s x s`` grid.

    Parameters
    ----------
    n_modes : int
        ``K``.
    r : float
        Decay exponent.
    a : numpy.ndarray
        ``(K, K)`` random coefficients, e.g. from :func:`draw_coefficients`.
    resolution : int
        ``s``.

    Returns
    -------
    numpy.ndarray
        float64 array of shape ``(s, s)`` indexed ``[y, x]``.
    """
    return evaluate_sine_series(sine_weights(n_modes, r) * a, resolution)
