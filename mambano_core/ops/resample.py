"""Resampling of square fields on the grid x_n = n / s, n = 0..s-1 (torch).

The resamplers act on the last two axes of an array of shape ``(..., s, s)`` (any leading
batch/channel axes), compute in float64 with ``torch.fft`` on the input's device (no numpy in
the torch path, differentiable), and return the input's floating dtype. A numpy array in gives
a numpy array out. The two spatial axes are resampled one after the other (the 2-D transforms
are tensor products of 1-D ones, so this equals resampling with 2-D transforms).

- :func:`resample_sine`: zero-Dirichlet data (0 at x = 0 and x = 1; the grid holds x = 0 and
  not x = 1), expanded in ``sin(pi k x)``, ``k = 1..s-1`` (DST-I of the interior points).
- :func:`resample_fourier`: periodic data, expanded in ``exp(2 pi i k x)``, ``|k| <= s/2``.
- :func:`resample_linear`: ``open`` data (a window cut out of a larger domain: neither periodic
  nor zero on the edges), linear interpolation between grid points, linear extrapolation over
  the last interval ``((s-1)/s, 1)``.

The two series resamplers keep the modes both grids resolve and zero-pad the others: a field
band-limited below both grids' limits is reproduced exactly, and resampling ``s -> S -> s``
with ``S >= s`` is the identity for any input. The linear one is local (no Gibbs ringing at
shocks or edges, no assumption on the boundary values): it reproduces bilinear fields exactly,
and point samples of the same function at a grid whose points it shares (``S`` a multiple or a
divisor of ``s``: ``s -> S -> s`` is then the identity, and downsampling takes every ``s/S``-th point).
"""

from __future__ import annotations

from typing import Callable, Literal, TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)
Boundary = Literal["dirichlet", "periodic", "open"]
BOUNDARIES: tuple[str, ...] = ("dirichlet", "periodic", "open")


def _check(x: torch.Tensor, size: int) -> None:
    if x.ndim < 2:
        raise ValueError(f"expected an array of shape (..., H, W), got shape {tuple(x.shape)}")
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"fields must be square (H == W), got H={x.shape[-2]}, W={x.shape[-1]}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be an integer >= 1, got {size!r}")


def _sine_1d(x: torch.Tensor, size: int) -> torch.Tensor:
    """Sine-series resampling of the last axis (float64 in, float64 out)."""
    s = x.shape[-1]
    interior = x[..., 1:]
    zero = torch.zeros_like(x[..., :1])
    # Odd extension of length 2s: rfft gives F_k = -2i sum_n x_n sin(pi k n / s).
    odd = torch.cat([zero, interior, zero, -interior.flip(-1)], dim=-1)
    coeffs = -torch.fft.rfft(odd, dim=-1).imag[..., 1:s] / s  # b_k: x_n = sum_k b_k sin(pi k n/s)
    n_keep = min(s, size) - 1
    spectrum = torch.zeros((*x.shape[:-1], size + 1), dtype=torch.complex128, device=x.device)
    # irfft of G_k = -i S b_k on 2S points gives sum_k b_k sin(pi k m / S).
    spectrum[..., 1 : n_keep + 1] = (-1j * size) * coeffs[..., :n_keep]
    values = torch.fft.irfft(spectrum, n=2 * size, dim=-1)[..., 1:size]
    return torch.cat([zero, values], dim=-1)  # exactly 0 at x = 0


def _fourier_1d(x: torch.Tensor, size: int) -> torch.Tensor:
    """Trigonometric resampling of the last axis (float64 in, float64 out)."""
    s = x.shape[-1]
    coeffs = torch.fft.rfft(x, dim=-1)
    spectrum = torch.zeros((*x.shape[:-1], size // 2 + 1), dtype=torch.complex128, device=x.device)
    smaller = min(s, size)
    n_paired = (smaller - 1) // 2 + 1  # bins 0..(m-1)//2 lie below both grids' Nyquist
    spectrum[..., :n_paired] = coeffs[..., :n_paired]
    if smaller % 2 == 0:  # bin m/2 is the Nyquist bin of the smaller grid
        k = smaller // 2
        if size > s:  # the source Nyquist cosine splits evenly between modes +-k
            spectrum[..., k] = coeffs[..., k] / 2
        elif size < s:  # modes +-k both alias to the target Nyquist bin
            spectrum[..., k] = 2 * coeffs[..., k].real
        else:
            spectrum[..., k] = coeffs[..., k]
    return torch.fft.irfft(spectrum * (size / s), n=size, dim=-1)


def _linear_1d(x: torch.Tensor, size: int) -> torch.Tensor:
    """Linear interpolation of the last axis from ``n / s`` to ``m / size`` (float64 in, float64 out)."""
    s = x.shape[-1]
    if s == 1:
        return x.expand(*x.shape[:-1], size)
    scaled = torch.arange(size, device=x.device) * s  # m s: the target point m / size is at index m s / size
    left = torch.clamp(torch.div(scaled, size, rounding_mode="floor"), max=s - 2)  # exact integer arithmetic
    weight = (scaled - left * size).to(torch.float64) / size  # in [0, 1], up to 2 - s/size past the last point
    return x[..., left] * (1.0 - weight) + x[..., left + 1] * weight


def _as_float64_tensor(x: torch.Tensor | np.ndarray) -> tuple[torch.Tensor, torch.dtype | np.dtype]:
    """The input as a float64 tensor, and the dtype to return (float64 for integer input)."""
    if isinstance(x, np.ndarray):
        if np.iscomplexobj(x):
            raise ValueError("fields must be real, got a complex array")
        out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
        return torch.from_numpy(np.array(x, dtype=np.float64)), out_dtype  # a writable copy
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if x.is_complex():
        raise ValueError("fields must be real, got a complex array")
    return x.to(torch.float64), (x.dtype if x.is_floating_point() else torch.float64)


def _apply_2d(x: ArrayT, size: int, resample_1d: Callable[[torch.Tensor, int], torch.Tensor]) -> ArrayT:
    """Resample the last axis, then the second-to-last one, and restore type and dtype."""
    work, out_dtype = _as_float64_tensor(x)
    _check(work, size)
    work = resample_1d(work, size)
    work = resample_1d(work.transpose(-1, -2), size).transpose(-1, -2).contiguous()
    if isinstance(x, np.ndarray):
        return work.numpy().astype(out_dtype, copy=False)
    return work.to(out_dtype)


def resample_sine(x: ArrayT, size: int) -> ArrayT:
    """Resample zero-Dirichlet fields to ``size x size`` with a truncated sine series.

    The interior values (n = 1..s-1) of each axis are expanded by a DST-I (computed as the FFT
    of the odd extension), modes ``k < min(s, size)`` are kept, and the series is evaluated on
    the grid ``m / size``; the value at x = 0 (row/column 0) is taken to be 0 and is 0 in the
    output. A sine series with modes below ``min(s, size)`` is reproduced exactly.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        Real array of shape ``(..., s, s)`` indexed ``[..., y, x]``.
    size : int
        Target resolution ``S >= 1``.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same type, device and floating dtype as ``x`` (float64 for integer input), shape
        ``(..., S, S)``.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 axes, is not square, is complex, or ``size`` is invalid.
    """
    return _apply_2d(x, size, _sine_1d)


def resample_fourier(x: ArrayT, size: int) -> ArrayT:
    """Resample periodic fields to ``size x size`` by zero-padding/truncating the Fourier series.

    For even sizes the Nyquist mode is split in two halves when upsampling and both halves are
    merged when downsampling, so that a real field band-limited to the smaller grid is
    reproduced exactly and ``s -> S -> s`` (``S >= s``) is the identity.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        Real array of shape ``(..., s, s)`` indexed ``[..., y, x]``, periodic on the unit square.
    size : int
        Target resolution ``S >= 1``.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        Same type, device and floating dtype as ``x`` (float64 for integer input), shape
        ``(..., S, S)``.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 2 axes, is not square, is complex, or ``size`` is invalid.
    """
    return _apply_2d(x, size, _fourier_1d)


def resample_linear(x: ArrayT, size: int) -> ArrayT:
    """Resample fields without a boundary condition (``open``) to ``size x size`` by linear interpolation.

    Each axis is interpolated linearly between the points ``n / s`` and extrapolated linearly
    beyond the last one (the grid holds x = 0, not x = 1). No periodicity and no boundary value
    is assumed, and no overshoot arises inside the grid (values between the neighbouring
    samples). Exact for bilinear fields; at sizes that share the points (``S`` a multiple or a
    divisor of ``s``) the shared points keep their values, so downsampling by an integer factor
    takes every ``s/S``-th point (what point-sampled data such as the airfoil's are at that
    resolution) and ``s -> S -> s`` is the identity. Downsampling is not low-pass filtered.

    Arguments, return value and errors as for :func:`resample_sine`.
    """
    return _apply_2d(x, size, _linear_1d)


def resample(x: ArrayT, size: int, boundary: Boundary) -> ArrayT:
    """Resample fields to ``size x size`` in the basis their boundary condition implies.

    Parameters
    ----------
    x : torch.Tensor or numpy.ndarray
        Real array of shape ``(..., s, s)``.
    size : int
        Target resolution.
    boundary : {"dirichlet", "periodic", "open"}
        ``dirichlet`` -> :func:`resample_sine`, ``periodic`` -> :func:`resample_fourier`,
        ``open`` -> :func:`resample_linear`.

    Returns
    -------
    torch.Tensor or numpy.ndarray
        The resampled fields, same type and dtype as ``x``.

    Raises
    ------
    ValueError
        For an unknown ``boundary`` or invalid input (see the two resamplers).
    """
    if boundary == "dirichlet":
        return resample_sine(x, size)
    if boundary == "periodic":
        return resample_fourier(x, size)
    if boundary == "open":
        return resample_linear(x, size)
    raise ValueError(f"boundary must be one of {', '.join(BOUNDARIES)}, got {boundary!r}")
