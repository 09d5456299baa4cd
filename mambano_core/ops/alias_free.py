"""Alias-free pointwise nonlinearities (functional form).

MambaNO (Zheng et al., NeurIPS 2024) inherits CNO's activation operator
``act(v) = D(sigma(U(v)))`` (Raonic et al., NeurIPS 2023): upsample with a windowed-sinc
low-pass so the nonlinearity's new high frequencies fit under the finer grid's Nyquist limit,
apply the nonlinearity, low-pass again below the output band limit and decimate. This is
StyleGAN3's ``filtered_lrelu`` (Karras et al., NeurIPS 2021) in pure PyTorch.

The gate of the Mamba-integration block uses the cheaper variant of the authors' code: bicubic
antialiased interpolation to the doubled grid, SiLU, and back (as banded matrices, like the
filters).

Float32 tensors on the CPU run both activations as fused native FIR passes, one image at a time
(:mod:`mambano_core.ops.fir_native`, 5-7x faster forward and backward on a 2-core CPU); other
devices and dtypes (float64 gradchecks), and machines without a C compiler, run the
banded-matrix passes (:mod:`mambano_core.ops.banded`). Both give the same values to float32
rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch
import torch.nn.functional as F
from torch import Tensor

from mambano_core.ops import fir_native
from mambano_core.ops.banded import MatrixMap, StridedFIR, apply_last, apply_rows, fir_matrix
from mambano_core.ops.filters import AxisPlan, FilterConfig, axis_plan

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
# On CPUs the images are processed in chunks whose oversampled intermediate fits in cache.
CPU_CHUNK_BYTES = 8 << 20


def _resampled_size(size: int, scale: float) -> int:
    """``size * scale``, which must be a positive integer."""
    out = size * scale
    if out < 1 or abs(out - round(out)) > 1e-9:
        raise ValueError(f"grid size {size} times scale {scale} is not a positive integer")
    return int(round(out))


def lrelu_plans(
    height: int, width: int, scale: float, config: FilterConfig
) -> tuple[AxisPlan, AxisPlan]:
    """Cached per-axis plans taking an ``height x width`` grid to ``scale`` times its size."""
    plan_h = axis_plan(height, _resampled_size(height, scale), config)
    plan_w = axis_plan(width, _resampled_size(width, scale), config)
    return plan_h, plan_w


def filtered_lrelu(
    x: Tensor,
    bias: Tensor | None = None,
    scale: float = 1.0,
    config: FilterConfig = FilterConfig(),
    slope: float = LRELU_SLOPE,
    gain: float = LRELU_GAIN,
) -> Tensor:
    """Alias-free leaky ReLU, resampling by ``scale`` (CNO's activation; StyleGAN3 ``filtered_lrelu``).

    Steps: add the per-channel ``bias``; zero-stuff and low-pass at the input's band limit
    (gain ``up**2``); ``leaky_relu(., slope) * gain``; low-pass at the output's band limit and
    decimate. Filters are designed for the runtime grid (``x.shape[-2:]``) and cached.

    Parameters
    ----------
    x
        Input of shape ``(B, C, H, W)``.
    bias
        Optional per-channel bias of shape ``(C,)``, added before the nonlinearity.
    scale
        Output size over input size per axis (1: same grid, 0.5: downsample, 2: upsample).
    config
        Filter hyperparameters.
    slope, gain
        Leaky ReLU negative slope and output gain.

    Returns
    -------
    Tensor
        Shape ``(B, C, H * scale, W * scale)``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    batch, channels, height, width = x.shape
    passes = _lrelu_passes(*lrelu_plans(height, width, scale, config), gain)
    if fir_native.native_eligible(x):
        return fir_native.fused_activation(x, bias, passes, fir_native.ACT_LRELU, slope)
    if bias is not None:
        x = x + bias.to(x.dtype)[None, :, None, None]
    images = x.reshape(batch * channels, height, width)
    per_image = passes[1].m * passes[0].m * x.element_size()  # the oversampled intermediate
    y = _map_chunks(lambda c: _lrelu_chunk(c, passes, slope), images, per_image)
    return y.view(batch, channels, *y.shape[-2:])


def _map_chunks(fn: Callable[[Tensor], Tensor], images: Tensor, bytes_per_image: int) -> Tensor:
    """``fn`` over chunks of ``images`` (along dim 0) sized to keep intermediates in CPU cache.

    On CPUs, large oversampled intermediates run 2-3x slower than cache-sized ones; GPUs get
    one call over everything.
    """
    if images.device.type != "cpu":
        return fn(images).contiguous()
    parts = [fn(c) for c in images.split(max(1, CPU_CHUNK_BYTES // bytes_per_image))]
    return parts[0].contiguous() if len(parts) == 1 else torch.cat(parts)


@lru_cache(maxsize=512)
def _lrelu_passes(
    plan_h: AxisPlan, plan_w: AxisPlan, gain: float
) -> tuple[StridedFIR, StridedFIR, StridedFIR, StridedFIR]:
    """The four 1-D passes: up along W, up along H, down along H (times ``gain``), down along W."""
    up_w = StridedFIR.upsample(plan_w.up_filter, plan_w.up, plan_w.pad_lo, plan_w.pad_hi, plan_w.in_size)
    up_h = StridedFIR.upsample(plan_h.up_filter, plan_h.up, plan_h.pad_lo, plan_h.pad_hi, plan_h.in_size)
    down_h = StridedFIR.downsample(plan_h.down_filter, plan_h.down, up_h.m, gain)
    down_w = StridedFIR.downsample(plan_w.down_filter, plan_w.down, up_w.m)
    return up_w, up_h, down_h, down_w


def _lrelu_chunk(images: Tensor, passes: tuple[StridedFIR, ...], slope: float) -> Tensor:
    """Upsample, leaky ReLU (the gain is folded into the H-downsampling pass), downsample."""
    up_w, up_h, down_h, down_w = passes
    y = apply_rows(apply_last(images, up_w), up_h)
    y = F.leaky_relu(y, slope, inplace=True)  # y is a fresh tensor
    return apply_last(apply_rows(y, down_h), down_w)


def alias_free_silu(x: Tensor, oversampling: int = 2) -> Tensor:
    """SiLU evaluated on an ``oversampling``-times finer grid (bicubic, antialiased) and brought back.

    The gate nonlinearity ``act_z`` of MambaNO's Mamba integration (authors' code: ``SS2D``):
    ``F.interpolate(mode="bicubic", antialias=True)`` up, SiLU, and back down. Each separable
    interpolation pass is applied as a banded matrix built from ``F.interpolate`` itself (so it
    is the same map, borders included) and cached per grid size: on a CPU this is several times
    faster than ``F.interpolate``, whose antialiased backward is slow.

    Parameters
    ----------
    x
        Input of shape ``(B, C, H, W)``.
    oversampling
        Refinement factor of the intermediate grid.

    Returns
    -------
    Tensor
        Same shape as ``x``.
    """
    if x.dim() != 4:
        raise ValueError(f"expected a (B, C, H, W) tensor, got shape {tuple(x.shape)}")
    batch, channels, height, width = x.shape
    passes = _gate_passes(height, width, int(oversampling))
    if fir_native.native_eligible(x):
        return fir_native.fused_activation(x, None, passes, fir_native.ACT_SILU)
    up_w, up_h, down_h, down_w = passes

    def gate(images: Tensor) -> Tensor:
        fine = F.silu(apply_rows(apply_last(images, up_w), up_h))
        return apply_last(apply_rows(fine, down_h), down_w)

    images = x.reshape(batch * channels, height, width)
    per_image = oversampling**2 * height * width * images.element_size()
    return _map_chunks(gate, images, per_image).view(batch, channels, height, width)


def interpolation_matrix(n_in: int, n_out: int) -> Tensor:
    """``(n_in, n_out)`` float64 matrix of 1-D antialiased bicubic resampling (``F.interpolate``).

    Row ``s`` is the response to a unit impulse at input sample ``s``.
    """
    impulses = torch.eye(n_in, dtype=torch.float64)[None, :, None, :]  # impulses as channels
    out = F.interpolate(impulses, size=(1, n_out), mode="bicubic", antialias=True, align_corners=False)
    return out[0, :, 0, :]


@lru_cache(maxsize=256)
def _gate_passes(height: int, width: int, oversampling: int) -> tuple[MatrixMap, ...]:
    """Up along W, up along H, down along H, down along W (bicubic, antialiased)."""
    if oversampling < 1:
        raise ValueError(f"oversampling must be a positive integer, got {oversampling}")

    def resample(n_in: int, n_out: int) -> MatrixMap:
        return MatrixMap(interpolation_matrix, (n_in, n_out), n_in, n_out)

    fine_h, fine_w = oversampling * height, oversampling * width
    return resample(width, fine_w), resample(height, fine_h), resample(fine_h, height), resample(fine_w, width)


def clear_filter_caches() -> None:
    """Drop every cached filter plan and resampling matrix (e.g. to free GPU memory)."""
    axis_plan.cache_clear()
    _lrelu_passes.cache_clear()
    _gate_passes.cache_clear()
    fir_matrix.cache_clear()
    fir_native.plan.cache_clear()
