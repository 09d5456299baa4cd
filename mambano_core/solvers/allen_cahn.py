"""Allen-Cahn ``u_t = Laplace(u) - eps^2 u (u^2 - 1)`` on (0,1)^2 with u = 0 on the boundary.

Method: Strang splitting (Strang 1968) of the exact heat flow in the sine basis and the exact
pointwise reaction flow, on the grid ``x_n = n / N`` (interior points ``n = 1..N-1``).

- Heat step: ``exp(-pi^2 (i^2 + j^2) dt)`` per sine mode ``(i, j)``, ``i, j = 1..N-1`` (exact for
  the sine-Galerkin space).
- Reaction step: ``u' = -eps^2 u (u^2 - 1)`` has the closed-form flow
  ``u(t) = u0 / sqrt(u0^2 + (1 - u0^2) exp(-2 eps^2 t))``, applied at the interior grid points.
- Transforms: DST-I of the interior values (``scipy.fft.dstn(type=1)``), with
  ``values = dstn(c) / 4`` and ``c = dstn(values) / N^2`` for ``values[m-1, n-1] = u(n/N, m/N)``.

The step is ``H(dt/2) R(dt) H(dt/2)``; consecutive half heat steps are merged, so each step
costs two 2-D DSTs. The scheme is second order in time; in space it converges spectrally while
the solution is resolved. Arrays are indexed ``[y, x]``; coefficient ``c[j-1, i-1]`` multiplies
``sin(pi j y) sin(pi i x)``.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dstn


def sine_values(coeffs: np.ndarray, workers: int = 1) -> np.ndarray:
    """Interior grid values ``(N-1, N-1)`` of the sine series with coefficients ``(N-1, N-1)``."""
    return dstn(coeffs, type=1, workers=workers) / 4.0


def sine_coefficients(values: np.ndarray, workers: int = 1) -> np.ndarray:
    """Sine coefficients ``(N-1, N-1)`` of interior grid values ``(N-1, N-1)`` (inverse of :func:`sine_values`)."""
    n = values.shape[-1] + 1
    return dstn(values, type=1, workers=workers) / float(n * n)


def heat_multipliers(n: int, dt: float) -> np.ndarray:
    """Exact heat-flow factors ``exp(-pi^2 (i^2 + j^2) dt)`` for ``i, j = 1..n-1``, shape ``(n-1, n-1)``."""
    k2 = np.arange(1, n, dtype=np.float64) ** 2
    return np.exp(-(np.pi**2) * dt * (k2[:, None] + k2[None, :]))


def reaction_step(u: np.ndarray, eps: float, dt: float) -> np.ndarray:
    """Exact flow of ``u' = -eps^2 u (u^2 - 1)`` over ``dt`` at every point (float64).

    Parameters
    ----------
    u : numpy.ndarray
        Values at the start of the step.
    eps : float
        The reaction parameter.
    dt : float
        Step length (>= 0).

    Returns
    -------
    numpy.ndarray
        ``u / sqrt(u^2 + (1 - u^2) exp(-2 eps^2 dt))``; maps ``[-1, 1]`` into itself and keeps
        the sign and the fixed points ``-1, 0, 1``.
    """
    decay = np.exp(-2.0 * eps * eps * dt)
    denominator = np.sqrt(u * u * (1.0 - decay) + decay)
    # The denominator vanishes only where u = 0 and decay underflows to 0; the flow keeps u = 0 there.
    return np.divide(u, denominator, out=np.zeros_like(u, dtype=np.float64), where=denominator > 0)


def solve_allen_cahn(
    coeffs: np.ndarray, eps: float, t_final: float, n: int, n_steps: int, workers: int = 1
) -> np.ndarray:
    """Sine coefficients of ``u(t_final)`` on the ``N = n`` grid from those of ``u(0)``.

    Method: Strang splitting of exact heat (sine basis) and exact reaction flows.

    Parameters
    ----------
    coeffs : numpy.ndarray
        Sine coefficients of ``u(0)``, shape ``(Ky, Kx)`` with ``Ky, Kx <= n - 1`` (indexed
        ``[j - 1, i - 1]``).
    eps : float
        Reaction parameter.
    t_final : float
        Final time (>= 0).
    n : int
        Grid intervals ``N`` per direction (``N - 1`` interior points and sine modes).
    n_steps : int
        Number of equal time steps (>= 1).
    workers : int
        Threads for ``scipy.fft``.

    Returns
    -------
    numpy.ndarray
        float64 coefficients ``(N - 1, N - 1)`` of ``u(t_final)``.
    """
    coeffs = np.asarray(coeffs, dtype=np.float64)
    if coeffs.ndim != 2 or max(coeffs.shape) > n - 1:
        raise ValueError(f"coefficients of shape {coeffs.shape} do not fit a grid of {n} intervals")
    if n_steps < 1 or t_final < 0:
        raise ValueError(f"need n_steps >= 1 and t_final >= 0, got {n_steps}, {t_final}")
    dt = t_final / n_steps
    state = np.zeros((n - 1, n - 1))
    state[: coeffs.shape[0], : coeffs.shape[1]] = coeffs
    half = heat_multipliers(n, 0.5 * dt)
    full = half * half
    state *= half
    for step in range(n_steps):
        values = reaction_step(sine_values(state, workers), eps, dt)
        state = sine_coefficients(values, workers)
        state *= half if step == n_steps - 1 else full
    return state
