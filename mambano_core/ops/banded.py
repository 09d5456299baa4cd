"""Strided FIR passes along one axis as (block-)banded matrix products.

Each 1-D pass of the alias-free activation (MambaNO, Zheng et al., NeurIPS 2024; CNO, Raonic et
al., NeurIPS 2023) is a linear map of the form

    out[j] = sum_s x[s] * g[j * a - s * b + c],        g = 0 outside [0, k),

with an upsampling pass (zero-stuff by ``b = up``, pad, filter: ``a = 1``,
``c = k - 1 - pad_lo``) or a downsampling pass (filter, keep every ``a = down``-th sample:
``b = 1``, ``c = k - 1``). The map is periodic: shifting the input by ``a`` shifts the output by
``b``. So the outputs are cut into blocks of ``Bo = q * b`` samples that all share one small
matrix acting on an input window of ``Win`` samples advanced by ``q * a`` per block; at the
borders the window is clipped to the input and the matrix rows of the (zero) padding dropped,
so no padded copy of the input is ever made.

Matrix products run on tuned BLAS kernels: on a CPU the whole activation was 8-10x faster
this way than with 1-channel convolutions (:mod:`mambano_core.ops.upfirdn`, kept as the reference).
The blocking bounds the cost per output sample (about ``WINDOW_BUDGET`` multiply-adds), so a
pass stays O(n) in the axis length instead of O(n^2) for one dense matrix; axes up to
``DENSE_LIMIT`` use one dense ``(n, m)`` matrix. Matrices are cached per (filter, geometry,
device, dtype), i.e. per grid size.

Maps that are not strided filters (the bicubic interpolation of the SiLU gate, with its border
rules) are given by their matrix (:class:`MatrixMap`) and cut into blocks from its nonzero band.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

# Axes up to this length use one dense matrix (blocking costs an extra memory pass to join the
# block outputs, which outweighs the saved multiply-adds on short axes). Tuned on a 2-core CPU.
DENSE_LIMIT = 64
# Input window per output block on longer axes: bounds the multiply-adds per output sample.
WINDOW_BUDGET = 48


@dataclass(frozen=True)
class StridedFIR:
    """The pass ``out[j] = sum_s x[s] g[j a - s b + c]`` for ``j < m``, ``s < n``.

    Attributes
    ----------
    taps
        The filter ``g`` (gains included).
    a, b, c
        Output stride, input stride and offset of the filter argument.
    n, m
        Input and output lengths.
    """

    taps: tuple[float, ...]
    a: int
    b: int
    c: int
    n: int
    m: int

    @classmethod
    def upsample(cls, taps: tuple[float, ...], up: int, pad_lo: int, pad_hi: int, n: int) -> StridedFIR:
        """Zero-stuff by ``up``, pad ``(pad_lo, pad_hi)``, filter (gain ``up``), valid part."""
        k = len(taps)
        m = n * up + pad_lo + pad_hi - k + 1
        return cls(tuple(t * up for t in taps), 1, up, k - 1 - pad_lo, n, m)

    @classmethod
    def downsample(cls, taps: tuple[float, ...], down: int, n: int, gain: float = 1.0) -> StridedFIR:
        """Filter (valid part, times ``gain``), keep every ``down``-th sample."""
        k = len(taps)
        return cls(tuple(t * gain for t in taps), down, 1, k - 1, n, (n - k) // down + 1)

    def adjoint(self) -> StridedFIR:
        """The transposed map ``x_bar[s] = sum_j y_bar[j] g[j a - s b + c]`` (the backward pass)."""
        return StridedFIR(self.taps[::-1], self.b, self.a, len(self.taps) - 1 - self.c, self.m, self.n)

    def window(self, block: int) -> tuple[int, int]:
        """First input index ``s0`` of block 0 and window length for ``block`` outputs."""
        k = len(self.taps)
        s0 = -((k - 1 - self.c) // self.b)  # ceil((c - k + 1) / b)
        last = ((block - 1) * self.a + self.c) // self.b
        return s0, last - s0 + 1

    def block_size(self, budget: int, dense_limit: int) -> int:
        """Outputs per block (a multiple of ``b``) for input windows of about ``budget`` samples;
        ``m`` itself (one dense matrix) when the input is no longer than ``dense_limit``."""
        if self.n <= dense_limit:
            return self.m
        # Win ~ q a + k / b for blocks of q b outputs.
        q = max(1, math.floor((budget - len(self.taps) / self.b) / self.a))
        block = q * self.b
        return self.m if block >= self.m else block


@dataclass(frozen=True)
class MatrixMap:
    """A linear map along one axis given by a banded ``(n, m)`` matrix, ``out = x @ M``.

    For maps that are not strided filters (e.g. bicubic interpolation with its border rules).
    ``build(*args)`` returns the float64 matrix; it runs once per map, device and dtype (cached).

    Attributes
    ----------
    build, args
        Matrix builder and its (hashable) arguments.
    n, m
        Input and output lengths.
    transposed
        Apply ``M^T`` instead (the adjoint; ``n`` and ``m`` are then swapped).
    """

    build: Callable[..., Tensor]
    args: tuple
    n: int
    m: int
    transposed: bool = False

    def adjoint(self) -> MatrixMap:
        """The transposed map (the backward pass)."""
        return MatrixMap(self.build, self.args, self.m, self.n, not self.transposed)

    def dense(self) -> Tensor:
        """The float64 ``(n, m)`` matrix."""
        mat = self.build(*self.args).to(torch.float64)
        mat = mat.t() if self.transposed else mat
        if tuple(mat.shape) != (self.n, self.m):
            raise ValueError(f"matrix builder returned shape {tuple(mat.shape)}, expected {(self.n, self.m)}")
        return mat.contiguous()


LinearMap = StridedFIR | MatrixMap


def _matrix(fir: StridedFIR, rows: int, first_row: int, cols: int) -> Tensor:
    """``M[r, j] = g[j a - (first_row + r) b + c]`` as a float64 (rows, cols) tensor."""
    g = torch.tensor(fir.taps, dtype=torch.float64)
    s = torch.arange(first_row, first_row + rows)[:, None]
    j = torch.arange(cols)[None, :]
    idx = j * fir.a - s * fir.b + fir.c
    valid = (idx >= 0) & (idx < g.numel())
    return torch.where(valid, g[idx.clamp(0, g.numel() - 1)], torch.zeros((), dtype=torch.float64))


@dataclass(frozen=True)
class Block:
    """One output block: ``cols`` outputs read inputs ``[in_lo, in_hi)`` via matrix rows ``[r0, r1)``."""

    cols: int
    in_lo: int
    in_hi: int
    r0: int
    r1: int


def _blocks(fir: StridedFIR, block: int, s0: int, win: int) -> tuple[Block, ...]:
    """The output blocks, their input windows clipped to ``[0, n)`` (zero padding = dropped rows)."""
    stride = block * fir.a // fir.b
    out = []
    for i in range(-(-fir.m // block)):
        start = s0 + i * stride
        lo, hi = max(start, 0), min(start + win, fir.n)
        out.append(Block(min(block, fir.m - i * block), lo, hi, lo - start, hi - start))
    return tuple(out)


@lru_cache(maxsize=1024)
def fir_matrix(
    fir: LinearMap, device: torch.device, dtype: torch.dtype, budget: int, dense_limit: int
) -> tuple[Tensor, tuple[tuple[int, int, Tensor], ...] | None]:
    """Cached matrices of a map for a grid size, device and dtype.

    Returns
    -------
    (Tensor, tuple or None)
        The dense ``(n, m)`` matrix and ``None``; or, for blocked maps, the shared matrix and the
        output blocks in order as ``(in_lo, in_hi, matrix)``: block ``i`` is
        ``x[in_lo:in_hi] @ matrix`` (views of the shared matrix for strided filters).
    """
    with torch.inference_mode(False):  # usable later in differentiable passes
        if isinstance(fir, MatrixMap):
            return _matrix_map_blocks(fir, device, dtype, budget, dense_limit)
        block = fir.block_size(budget, dense_limit)
        if block == fir.m:
            return _matrix(fir, fir.n, 0, fir.m).to(device=device, dtype=dtype), None
        s0, win = fir.window(block)
        mat = _matrix(fir, win, s0, block).to(device=device, dtype=dtype)
        blocks = tuple((b.in_lo, b.in_hi, mat[b.r0 : b.r1, : b.cols]) for b in _blocks(fir, block, s0, win))
        return mat, blocks


def _matrix_map_blocks(
    fmap: MatrixMap, device: torch.device, dtype: torch.dtype, budget: int, dense_limit: int
) -> tuple[Tensor, tuple[tuple[int, int, Tensor], ...] | None]:
    """Dense matrix of ``fmap``, cut into column blocks reading about ``budget`` input rows."""
    dense = fmap.dense()
    if fmap.n <= dense_limit:
        return dense.to(device=device, dtype=dtype), None
    nonzero = dense != 0
    rows = torch.arange(fmap.n)[:, None]
    first = torch.where(nonzero, rows, fmap.n).amin(0)  # first and last used input per output
    last = torch.where(nonzero, rows, -1).amax(0)
    support = int((last - first).clamp(min=0).max()) + 1
    block = max(1, math.floor((budget - support) * fmap.m / fmap.n))
    if block >= fmap.m:
        return dense.to(device=device, dtype=dtype), None
    blocks = []
    for j0 in range(0, fmap.m, block):
        j1 = min(fmap.m, j0 + block)
        lo, hi = int(first[j0:j1].min()), int(last[j0:j1].max()) + 1
        lo, hi = (0, 1) if hi <= lo else (lo, hi)  # an all-zero block still reads one row
        blocks.append((lo, hi, dense[lo:hi, j0:j1].to(device=device, dtype=dtype)))
    return dense.to(device=device, dtype=dtype), tuple(blocks)


def _forward(x: Tensor, fir: LinearMap, dim: int) -> Tensor:
    """``fir`` along ``dim`` (-1 or -2) of ``x``: one dense product or one product per block."""
    mat, blocks = fir_matrix(fir, x.device, x.dtype, WINDOW_BUDGET, DENSE_LIMIT)
    if dim == -1:
        if blocks is None:
            return x @ mat
        parts = [x[..., lo:hi] @ sub for lo, hi, sub in blocks]
    else:
        if blocks is None:
            return mat.t() @ x
        parts = [sub.t() @ x[..., lo:hi, :] for lo, hi, sub in blocks]
    return torch.cat(parts, dim=dim)


class _BandedApply(torch.autograd.Function):
    """Autograd wrapper: the backward is the adjoint map, applied the same blocked way.

    Left to autograd, the per-block slices would each allocate and accumulate a zero gradient of
    the full input size in the backward pass (quadratic memory traffic in the number of blocks).
    """

    @staticmethod
    def forward(ctx, x: Tensor, fir: LinearMap, dim: int) -> Tensor:  # type: ignore[override]
        ctx.fir, ctx.dim = fir, dim
        return _forward(x, fir, dim)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, None, None]:  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None
        return _apply(grad, ctx.fir.adjoint(), ctx.dim), None, None


def _apply(x: Tensor, fir: LinearMap, dim: int) -> Tensor:
    """Check the length, then apply ``fir`` along ``dim`` (through autograd when needed)."""
    if x.shape[dim] != fir.n:
        raise ValueError(f"expected length {fir.n} along dim {dim}, got {x.shape[dim]}")
    if torch.is_grad_enabled() and x.requires_grad:
        return _BandedApply.apply(x, fir, dim)
    return _forward(x, fir, dim)


def apply_last(x: Tensor, fir: LinearMap) -> Tensor:
    """Apply ``fir`` along the last dimension of ``x`` (any leading shape); differentiable."""
    return _apply(x, fir, -1)


def apply_rows(x: Tensor, fir: LinearMap) -> Tensor:
    """Apply ``fir`` along the second-to-last dimension of ``x`` (``(..., n, W)``); differentiable."""
    return _apply(x, fir, -2)
