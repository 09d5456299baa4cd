"""The alias-free activations on the CPU as fused native FIR passes (``ops/native/fir.c``).

Each 1-D pass (:class:`~mambano_core.ops.banded.StridedFIR` or
:class:`~mambano_core.ops.banded.MatrixMap`) is handed to the kernel in band form: output ``j``
reads ``k`` consecutive inputs from ``s0[j]`` with its own ``k`` weights (the polyphase taps of a
strided filter, the nonzero band of a matrix column; clipped at the borders, so no padded copy).
One C call runs the whole 2-D activation image by image (up along H and W, the nonlinearity,
down along W and H) in per-thread scratch buffers that stay in cache; its backward runs the
adjoint passes, given in the same band form, in reverse. The leaky ReLU keeps one bit per
oversampled sample for its backward (the sign of the pre-activation); the SiLU gate recomputes
its oversampled pre-activation from the input instead of storing it (4x the input's size).

Float32 only; the results equal the banded-matrix path (:mod:`mambano_core.ops.banded`) to
float32 rounding and do not depend on the thread count.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from mambano_core.ops.banded import LinearMap, MatrixMap, _matrix
from mambano_core.ops.native import data_pointer, load, num_threads

ACT_LRELU = 0
ACT_SILU = 1


class _Band(ctypes.Structure):
    """``band_t`` of fir.c."""

    _fields_ = [
        ("n", ctypes.c_int32),
        ("m", ctypes.c_int32),
        ("k", ctypes.c_int32),
        ("pad", ctypes.c_int32),
        ("s0", ctypes.c_void_p),
        ("w", ctypes.c_void_p),
    ]


@lru_cache(maxsize=1)
def library() -> ctypes.CDLL | None:
    """The compiled fir.c with its signatures declared, or ``None`` (no compiler, ``MAMBANO_NATIVE=0``)."""
    lib = load("fir")
    if lib is None:
        return None
    ptr, i32, f32 = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
    lib.fir_act_forward.argtypes = [i32, ptr, ptr, ptr, i32, f32, ptr, i32, ptr, i32]
    lib.fir_act_forward.restype = None
    lib.fir_act_backward.argtypes = [i32, ptr, ptr, ptr, ptr, ptr, i32, f32, ptr, i32, ptr, ptr, i32]
    lib.fir_act_backward.restype = None
    lib.fir_mask_bytes.argtypes = [ptr]
    lib.fir_mask_bytes.restype = ctypes.c_size_t
    return lib


def dense_matrix(fmap: LinearMap) -> Tensor:
    """The float64 ``(n, m)`` matrix of a pass (``out = x @ M``)."""
    if isinstance(fmap, MatrixMap):
        return fmap.dense()
    return _matrix(fmap, fmap.n, 0, fmap.m)


def band_form(fmap: LinearMap) -> tuple[Tensor, Tensor]:
    """``(s0, w)``: output ``j`` is ``sum_i w[j, i] * x[s0[j] + i]`` (int32 ``(m,)``, float32 ``(m, k)``).

    ``k`` is the widest nonzero band of a column of :func:`dense_matrix`; narrower bands are
    padded with zero weights, windows shifted inside ``[0, n)`` at the borders.
    """
    dense = dense_matrix(fmap)
    n = dense.shape[0]
    nonzero = dense != 0
    rows = torch.arange(n)[:, None]
    first = torch.where(nonzero, rows, n).amin(0)
    last = torch.where(nonzero, rows, -1).amax(0)
    empty = last < first  # an all-zero column reads row 0 with weight 0
    first, last = first.masked_fill(empty, 0), last.masked_fill(empty, 0)
    k = int((last - first).max()) + 1
    s0 = first.clamp(max=n - k)
    window = s0[:, None] + torch.arange(k)[None, :]
    weights = dense.t().gather(1, window)
    return s0.to(torch.int32).contiguous(), weights.to(torch.float32).contiguous()


class _Plan:
    """The four passes of an activation and their adjoints as ``band_t`` arrays (kept alive here)."""

    def __init__(self, passes: tuple[LinearMap, ...]) -> None:
        self.passes = passes
        self._tensors: list[Tensor] = []
        self.forward = self._bands(passes)
        self.adjoint = self._bands(tuple(p.adjoint() for p in passes))
        self.out_hw = (passes[2].m, passes[3].m)
        self.mask_bytes = library().fir_mask_bytes(self.forward)

    def _bands(self, maps: tuple[LinearMap, ...]) -> ctypes.Array:
        bands = (_Band * len(maps))()
        for band, fmap in zip(bands, maps):
            s0, w = band_form(fmap)
            self._tensors += [s0, w]
            band.n, band.m, band.k = fmap.n, fmap.m, w.shape[1]
            band.s0, band.w = s0.data_ptr(), w.data_ptr()
        return bands


@lru_cache(maxsize=512)
def plan(passes: tuple[LinearMap, ...]) -> _Plan:
    """Cached band form of ``(up_w, up_h, down_h, down_w)`` (per grid size)."""
    with torch.inference_mode(False):
        return _Plan(passes)


class _FusedActivation(torch.autograd.Function):
    """``(B, C, H, W) -> (B, C, Ho, Wo)``: bias, up, nonlinearity, down in one native call per direction."""

    @staticmethod
    def forward(ctx, x: Tensor, bias: Tensor | None, plan_: _Plan, act: int, slope: float) -> Tensor:  # type: ignore[override]
        lib = library()
        batch, channels = x.shape[:2]
        x = x.contiguous()
        bias_c = None if bias is None else bias.detach().contiguous()
        y = x.new_empty(batch, channels, *plan_.out_hw)
        mask = None
        if act == ACT_LRELU and any(ctx.needs_input_grad[:2]):
            mask = torch.empty(batch * channels, plan_.mask_bytes, dtype=torch.uint8)
        lib.fir_act_forward(
            batch * channels, x.data_ptr(), y.data_ptr(), plan_.forward, act, slope,
            data_pointer(bias_c), channels, data_pointer(mask), num_threads(),
        )
        ctx.plan, ctx.act, ctx.slope, ctx.shape = plan_, act, slope, (batch, channels)
        ctx.save_for_backward(x if act == ACT_SILU else None, bias_c, mask)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        x, bias, mask = ctx.saved_tensors
        batch, channels = ctx.shape
        height, width = ctx.plan.passes[1].n, ctx.plan.passes[0].n
        grad = grad.contiguous()
        dx = grad.new_empty(batch, channels, height, width)
        need_bias = ctx.needs_input_grad[1]
        dsum = torch.empty(batch, channels, dtype=torch.float64) if need_bias else None
        library().fir_act_backward(
            batch * channels, data_pointer(x), grad.data_ptr(), dx.data_ptr(), ctx.plan.forward,
            ctx.plan.adjoint, ctx.act, ctx.slope, data_pointer(bias), channels, data_pointer(mask), data_pointer(dsum),
            num_threads(),
        )
        dbias = dsum.sum(0).to(grad.dtype) if need_bias else None
        return (dx if ctx.needs_input_grad[0] else None), dbias, None, None, None


def native_eligible(x: Tensor) -> bool:
    """Whether ``x`` runs on the native kernels: a float32 CPU tensor and a compiled library."""
    return x.device.type == "cpu" and x.dtype == torch.float32 and library() is not None


def fused_activation(
    x: Tensor, bias: Tensor | None, passes: tuple[LinearMap, ...], act: int, slope: float = 0.0
) -> Tensor:
    """The activation ``passes`` describe, natively (see :func:`native_eligible`); differentiable."""
    if bias is not None:
        bias = bias.to(x.dtype)
    return _FusedActivation.apply(x, bias, plan(passes), act, float(slope))

