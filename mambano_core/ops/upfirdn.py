"""Separable upsample-FIR-downsample (``upfirdn``) in pure PyTorch.

Semantics of StyleGAN3's ``upfirdn2d`` (Karras et al., NeurIPS 2021) with a separable filter:
zero-stuff by ``up`` (each sample followed by ``up - 1`` zeros), zero-pad by ``(pad_lo, pad_hi)``
(negative values crop), convolve with the FIR filter (true convolution, valid part), keep every
``down``-th sample. Used by the alias-free activation of CNO and MambaNO (Zheng et al.,
NeurIPS 2024).

Every pass works along one axis with a 1-D kernel, so a 2-D resampling costs ``2 k`` multiply-adds
per output sample instead of ``k^2``. Upsampling is polyphase: the ``up`` phases of the filter
are the output channels of a single convolution over the *unstuffed* input, so no multiply-add
is spent on the inserted zeros. Tensors are reshaped to ``(N, 1, H, W)``: one filter serves
every channel. This is the general operation and the reference of the tests; the activation
itself applies the same maps as banded matrix products (:mod:`mambano_core.ops.banded`),
which is several times faster on CPUs.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def _axis_kernel(taps: Tensor, axis: int) -> Tensor:
    """Reshape ``(out, k)`` taps into a conv2d weight acting along ``axis`` (2: H, 3: W)."""
    if axis == 2:
        return taps[:, None, :, None]
    return taps[:, None, None, :]


def _pad_axis(x: Tensor, lo: int, hi: int, axis: int) -> Tensor:
    """Zero-pad (positive) or crop (negative) ``x`` along ``axis`` (2 or 3)."""
    if lo < 0:
        x = x.narrow(axis, -lo, x.shape[axis] + lo)
        lo = 0
    if hi < 0:
        x = x.narrow(axis, 0, x.shape[axis] + hi)
        hi = 0
    if lo == 0 and hi == 0:
        return x
    pad = (0, 0, lo, hi) if axis == 2 else (lo, hi, 0, 0)
    return F.pad(x, pad)


def upsample_axis(x: Tensor, taps: Tensor, up: int, pad_lo: int, pad_hi: int, axis: int) -> Tensor:
    """Zero-stuff by ``up``, pad, and filter with ``taps * up`` along one axis.

    Parameters
    ----------
    x
        Input of shape ``(N, 1, H, W)``.
    taps
        1-D filter of ``k`` taps, ``k`` a multiple of ``up``; scaled by ``up`` (the gain that
        keeps the DC level of the zero-stuffed signal).
    up
        Upsampling factor.
    pad_lo, pad_hi
        Padding of the zero-stuffed signal (length ``n * up``) before the valid convolution.
    axis
        2 (height) or 3 (width).

    Returns
    -------
    Tensor
        Length ``n * up + pad_lo + pad_hi - k + 1`` along ``axis``.
    """
    n, k = x.shape[axis], taps.shape[0]
    if k % up:
        raise ValueError(f"filter length {k} is not a multiple of the upsampling factor {up}")
    out_len = n * up + pad_lo + pad_hi - k + 1
    # Full convolution of the stuffed signal at index i = q * up + r is sum_j x[q - j] f[j up + r].
    phases = (taps * up).reshape(k // up, up).t().flip(-1)  # (up, k/up) correlation kernels
    full = F.conv2d(_pad_axis(x, k // up - 1, k // up - 1, axis), _axis_kernel(phases, axis))
    # (N, up, ..., q) -> interleave the phases: sample q * up + r comes from channel r.
    if axis == 2:
        full = full.permute(0, 2, 1, 3).reshape(x.shape[0], 1, -1, x.shape[3])
    else:
        full = full.permute(0, 2, 3, 1).reshape(x.shape[0], 1, x.shape[2], -1)
    full = full.narrow(axis, 0, (n - 1) * up + k)  # drop the trailing zero-stuffed tail
    # Output sample j of the padded valid convolution is full-convolution sample j + k - 1 - pad_lo.
    start = k - 1 - pad_lo
    return _pad_axis(full, -start, start + out_len - full.shape[axis], axis)


def upfirdn2d(
    x: Tensor,
    taps_h: Tensor,
    taps_w: Tensor,
    up: int = 1,
    down: int = 1,
    padding: tuple[int, int, int, int] = (0, 0, 0, 0),
) -> Tensor:
    """Separable ``upfirdn2d`` on ``(B, C, H, W)`` with per-axis filters.

    Parameters
    ----------
    x
        Input of shape ``(B, C, H, W)``.
    taps_h, taps_w
        1-D filters along H and W (the gain ``up`` per axis is applied, ``up**2`` in all).
    up, down
        Resampling factors, the same on both axes.
    padding
        ``(pad_h_lo, pad_h_hi, pad_w_lo, pad_w_hi)`` applied after zero-stuffing.

    Returns
    -------
    Tensor
        The resampled ``(B, C, H', W')`` tensor.
    """
    batch, channels = x.shape[:2]
    y = x.reshape(batch * channels, 1, *x.shape[2:])
    y = upsample_axis(y, taps_h, up, padding[0], padding[1], axis=2)
    y = upsample_axis(y, taps_w, up, padding[2], padding[3], axis=3)
    y = y[:, :, ::down, ::down]
    return y.reshape(batch, channels, *y.shape[2:])
