"""Incompressible Navier-Stokes on the periodic unit square: dealiased pseudo-spectral vorticity form.

Method: Fourier-Galerkin in space with the 2/3 rule (Orszag 1971), time stepping by the
integrating-factor Runge-Kutta 4 scheme of Lawson (1967), which integrates the viscous term
exactly, with a CFL-limited step ``dt = cfl * h / (max|u| + max|v|)``.

Equations (vorticity ``w = dv/dx - du/dy``, stream function ``psi`` with ``u = dpsi/dy``,
``v = -dpsi/dx``, so ``-Laplace(psi) = w``)::

    w_t + u w_x + v w_y = nu Laplace(w)

The mean velocity ``(U, V)`` (the k = 0 Fourier mode, which the vorticity does not carry) is
conserved by the periodic equations and is passed along explicitly.

Conventions: fields are indexed ``[y, x]`` on the grid ``x_i = i / n`` (``i = 0..n-1``).
A *spectrum* is the dealiased part of ``scipy.fft.rfft2`` of a field in a compact layout: shape
``(n, K + 1)`` with ``K = (n - 1) // 3``, columns ``kx = 0..K``, rows in FFT order with the rows
``|ky| > K`` zero. The 2-D transforms are done axis by axis on the ``K + 1`` retained columns only
(about half the work of ``irfft2``). All computations are float64/complex128.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

#: ``callback(t, w_hat)`` called after every time step (and once at t = 0).
StepCallback = Callable[[float, np.ndarray], None]


@dataclass(frozen=True)
class SpectralGrid:
    """Wavenumbers of an ``n x n`` periodic grid on the unit square, compact layout ``[ky, kx]``.

    Attributes
    ----------
    n : int
        Grid points per direction.
    cutoff : int
        ``K = (n - 1) // 3``: the largest retained integer wavenumber (2/3 rule, ``3K < n``).
    kx, ky : numpy.ndarray
        Angular wavenumbers ``2 pi k``, shapes ``(1, K + 1)`` and ``(n, 1)``.
    k2 : numpy.ndarray
        ``kx^2 + ky^2``, shape ``(n, K + 1)``.
    mask : numpy.ndarray
        1 where ``|ky| <= K`` (every retained column has ``kx <= K``), else 0; ``(n, K + 1)``.
    to_u, to_v : numpy.ndarray
        Multipliers taking a vorticity spectrum to the velocity spectra:
        ``i ky / |k|^2`` and ``-i kx / |k|^2`` (0 for the mean mode).
    """

    n: int
    cutoff: int
    kx: np.ndarray
    ky: np.ndarray
    k2: np.ndarray
    mask: np.ndarray
    to_u: np.ndarray
    to_v: np.ndarray


def make_grid(n: int) -> SpectralGrid:
    """The :class:`SpectralGrid` of an ``n x n`` periodic grid (``n`` even, ``>= 4``).

    Parameters
    ----------
    n : int
        Grid points per direction.

    Returns
    -------
    SpectralGrid
        Wavenumbers, velocity multipliers and the dealiasing mask.
    """
    if n < 4 or n % 2:
        raise ValueError(f"solver resolution must be an even integer >= 4, got {n}")
    cutoff = (n - 1) // 3  # products of two modes <= K have modes <= 2K, aliased to >= n - 2K > K
    ky_int = np.fft.fftfreq(n, 1.0 / n)[:, None]
    kx = 2.0 * np.pi * np.arange(cutoff + 1, dtype=np.float64)[None, :]
    ky = 2.0 * np.pi * ky_int
    k2 = kx**2 + ky**2
    inv_k2 = np.divide(1.0, k2, out=np.zeros_like(k2), where=k2 > 0)
    mask = np.broadcast_to(np.abs(ky_int) <= cutoff, k2.shape).astype(np.float64)
    return SpectralGrid(n, cutoff, kx, ky, k2, mask, 1j * ky * inv_k2 * mask, -1j * kx * inv_k2 * mask)


def to_spectrum(fields: np.ndarray, grid: SpectralGrid, workers: int = 1) -> np.ndarray:
    """Dealiased spectra (compact layout) of real periodic fields sampled on an ``m x m`` grid.

    Parameters
    ----------
    fields : numpy.ndarray
        Real array ``(..., m, m)`` indexed ``[..., y, x]`` on the grid ``x_i = i / m``, with
        ``m >= 2K + 1``; a finer grid (``m > n``) samples the field with less aliasing.
    grid : SpectralGrid
        The solver grid whose retained modes are returned.
    workers : int
        Threads for ``scipy.fft``.

    Returns
    -------
    numpy.ndarray
        complex128 spectra ``(..., n, K + 1)``, scaled like ``rfft2`` on the ``n`` grid.
    """
    m, k = fields.shape[-1], grid.cutoff
    if m < 2 * k + 1:
        raise ValueError(f"fields on a {m}-point grid cannot resolve the {2 * k + 1} retained modes")
    half = sfft.rfft(fields, axis=-1, workers=workers)[..., : k + 1]
    full = sfft.fft(half, axis=-2, workers=workers, overwrite_x=True)
    if m == grid.n:
        return full * grid.mask
    out = np.zeros((*full.shape[:-2], grid.n, k + 1), dtype=np.complex128)
    out[..., : k + 1, :] = full[..., : k + 1, :]
    out[..., grid.n - k :, :] = full[..., m - k :, :]
    return out * (grid.n / m) ** 2


def to_field(spectra: np.ndarray, grid: SpectralGrid, workers: int = 1) -> np.ndarray:
    """Real fields ``(..., n, n)`` from spectra in the compact layout (inverse of :func:`to_spectrum`)."""
    padded = np.zeros((*spectra.shape[:-1], grid.n // 2 + 1), dtype=np.complex128)
    # Zero-padding by hand: scipy's own padding (irfft of a short input) is several times slower.
    padded[..., : grid.cutoff + 1] = sfft.ifft(spectra, axis=-2, workers=workers)
    return sfft.irfft(padded, n=grid.n, axis=-1, workers=workers)


def vorticity_spectrum(u: np.ndarray, v: np.ndarray, grid: SpectralGrid, workers: int = 1) -> np.ndarray:
    """Dealiased spectrum of ``w = dv/dx - du/dy`` of a periodic velocity field.

    Parameters
    ----------
    u, v : numpy.ndarray
        Velocity components, shape ``(m, m)`` indexed ``[y, x]`` (``m = n``, or finer: see
        :func:`to_spectrum`).
    grid : SpectralGrid
        The solver grid.
    workers : int
        Threads for ``scipy.fft``.

    Returns
    -------
    numpy.ndarray
        complex128 spectrum ``(n, K + 1)``.
    """
    u_hat, v_hat = to_spectrum(np.stack([u, v]), grid, workers)
    return 1j * grid.kx * v_hat - 1j * grid.ky * u_hat


def velocity(
    w_hat: np.ndarray, grid: SpectralGrid, mean: tuple[float, float] = (0.0, 0.0), workers: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """The divergence-free velocity ``(u, v)`` with vorticity spectrum ``w_hat`` and mean ``(U, V)``.

    ``psi_hat = w_hat / |k|^2``, ``u_hat = i ky psi_hat``, ``v_hat = -i kx psi_hat``.

    Parameters
    ----------
    w_hat : numpy.ndarray
        Vorticity spectrum ``(n, K + 1)``.
    grid : SpectralGrid
        Its grid.
    mean : tuple of float
        Mean velocity ``(U, V)``.
    workers : int
        Threads for ``scipy.fft``.

    Returns
    -------
    tuple of numpy.ndarray
        ``u`` and ``v``, float64 arrays ``(n, n)`` indexed ``[y, x]``.
    """
    u, v = to_field(np.stack([grid.to_u * w_hat, grid.to_v * w_hat]), grid, workers)
    return u + mean[0], v + mean[1]


class _Advection:
    """``N(w) = u w_x + v w_y`` (dealiased spectrum) with preallocated buffers."""

    def __init__(self, grid: SpectralGrid, mean: tuple[float, float], workers: int) -> None:
        self.grid, self.mean, self.workers = grid, mean, workers
        self.factors = np.stack([grid.to_u, grid.to_v, 1j * grid.kx * grid.mask, 1j * grid.ky * grid.mask])
        self.buffer = np.empty_like(self.factors)
        self.speed = 0.0

    def __call__(self, w_hat: np.ndarray) -> np.ndarray:
        np.multiply(self.factors, w_hat, out=self.buffer)
        u, v, w_x, w_y = to_field(self.buffer, self.grid, self.workers)
        u += self.mean[0]
        v += self.mean[1]
        self.speed = float(max(u.max(), -u.min()) + max(v.max(), -v.min()))
        np.multiply(u, w_x, out=u)
        np.multiply(v, w_y, out=v)
        u += v
        return to_spectrum(u, self.grid, self.workers)


def _lawson_rk4_step(
    w_hat: np.ndarray, n1: np.ndarray, dt: float, decay: np.ndarray, advection: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """One Lawson (integrating-factor) RK4 step for ``w_t = -N(w) - nu |k|^2 w``.

    ``n1 = N(w_hat)`` is the first stage (computed before, for the CFL condition) and
    ``decay = -nu |k|^2``.
    """
    half = np.exp(0.5 * dt * decay)
    full = half * half
    k2 = -advection(half * (w_hat - 0.5 * dt * n1))
    k3 = -advection(half * w_hat + 0.5 * dt * k2)
    k4 = -advection(full * w_hat + dt * half * k3)
    return full * w_hat + (dt / 6.0) * (-full * n1 + 2.0 * half * (k2 + k3) + k4)


def solve_vorticity(
    w_hat: np.ndarray,
    grid: SpectralGrid,
    nu: float,
    t_final: float,
    *,
    mean: tuple[float, float] = (0.0, 0.0),
    cfl: float = 1.0,
    n_steps: int | None = None,
    callback: StepCallback | None = None,
    workers: int = 1,
) -> tuple[np.ndarray, int]:
    """Advance the vorticity spectrum from ``t = 0`` to ``t_final``.

    Method: dealiased pseudo-spectral Fourier-Galerkin (2/3 rule) with Lawson's integrating-factor RK4.

    Parameters
    ----------
    w_hat : numpy.ndarray
        Initial vorticity spectrum ``(n, K + 1)`` (see :func:`vorticity_spectrum`).
    grid : SpectralGrid
        The grid.
    nu : float
        Kinematic viscosity (>= 0).
    t_final : float
        Final time (>= 0).
    mean : tuple of float
        Mean velocity ``(U, V)`` (conserved).
    cfl : float
        Step ``dt = cfl * h / (max|u| + max|v|)`` with ``h = 1/n``, recomputed each step from
        the current velocity; ignored when ``n_steps`` is given. RK4 is linearly stable up to
        ``cfl = 2 sqrt(2) n / (2 pi K) ~ 1.35`` for the retained modes.
    n_steps : int, optional
        Use this many equal steps instead of the CFL rule.
    callback : callable, optional
        ``callback(t, w_hat)`` after each step and at ``t = 0``.
    workers : int
        Threads for ``scipy.fft``.

    Returns
    -------
    tuple
        The vorticity spectrum at ``t_final`` and the number of steps taken.
    """
    if nu < 0 or t_final < 0 or cfl <= 0 or (n_steps is not None and n_steps < 1):
        raise ValueError(f"need nu >= 0, t_final >= 0, cfl > 0, n_steps >= 1; got {nu}, {t_final}, {cfl}, {n_steps}")
    decay = -nu * grid.k2
    advection = _Advection(grid, mean, workers)
    w_hat = np.asarray(w_hat, dtype=np.complex128) * grid.mask
    t, steps = 0.0, 0
    if callback is not None:
        callback(t, w_hat)
    while t_final - t > 1e-12 * max(t_final, 1.0):
        n1 = advection(w_hat)
        dt = t_final / n_steps if n_steps is not None else cfl / (grid.n * max(advection.speed, 1e-12))
        dt = min(dt, t_final - t)
        w_hat = _lawson_rk4_step(w_hat, n1, dt, decay, advection)
        t += dt
        steps += 1
        if callback is not None:
            callback(t, w_hat)
    return w_hat, steps


def kinetic_energy(w_hat: np.ndarray, grid: SpectralGrid, mean: tuple[float, float] = (0.0, 0.0)) -> float:
    """Kinetic energy ``(1/2) int |u|^2`` over the unit square (exact for the band-limited field)."""
    u, v = velocity(w_hat, grid, mean)
    return 0.5 * float(np.mean(u * u + v * v))


def divergence(u: np.ndarray, v: np.ndarray, workers: int = 1) -> np.ndarray:
    """Spectral divergence ``du/dx + dv/dy`` of a periodic velocity field on the unit square.

    Uses all Fourier modes below the Nyquist frequency of the ``n x n`` grid of ``u`` and ``v``.
    """
    n = u.shape[-1]
    u_hat = sfft.rfft2(u, workers=workers)
    v_hat = sfft.rfft2(v, workers=workers)
    kx = 2.0 * np.pi * np.arange(n // 2 + 1)[None, :]
    ky = 2.0 * np.pi * np.fft.fftfreq(n, 1.0 / n)[:, None]
    div_hat = 1j * kx * u_hat + 1j * ky * v_hat
    div_hat[:, -1] = 0.0  # Nyquist column and row: derivative undefined on the grid
    div_hat[n // 2, :] = 0.0
    return sfft.irfft2(div_hat, s=u.shape, workers=workers)
