"""SS2D: the 2-D selective scan of MambaNO's Mamba integration (Zheng et al., NeurIPS 2024).

VMamba's SS2D (Liu et al., 2024) with MambaNO's alias-free activations. The selective scan is
Mamba-1's (Gu & Dao, 2023, Alg. 2), MambaNO's discretised state-space kernel integral:
``h_t = exp(delta_t A) h_{t-1} + delta_t B_t x_t``, ``y_t = <C_t, h_t> + D x_t``, with
input-dependent ``delta, B, C``, run along four scan directions of the grid, each with its own
projections and state matrices. The ablations scan fewer directions (``directions`` 1 or 2) or
replace the alias-free activations by pointwise ones (``activation="pointwise"``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mambano_core.layers.activations import lrelu, silu_gate
from mambano_core.ops.cross_scan import DIRECTION_COUNTS, DIRECTIONS, cross_merge, cross_scan, folded_projection
from mambano_core.ops.filters import FilterConfig
from mambano_core.ops.norm_gate_project import norm_gate_project
from mambano_core.ops.scan import resolve_backend, selective_scan_fn
from mambano_core.ops.scan import cross as native_cross
from mambano_core.ops.shared_matmul import shared_input_matmul


def _dt_bias_init(d_inner: int, copies: int, dt_min: float, dt_max: float, floor: float) -> Tensor:
    """Biases whose softplus is log-uniform in ``[dt_min, dt_max]`` (Mamba's inverse softplus)."""
    log_dt = torch.rand(copies, d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    dt = torch.exp(log_dt).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))


class SS2D(nn.Module):
    """Four-direction (or one- or two-direction) selective scan over a channels-last grid.

    ``in_proj`` (d -> 2 d_inner) splits into ``x`` and the gate ``z``; ``x`` goes through a
    depthwise 3x3 convolution, the alias-free activation and the cross-scan; the merged output
    is layer-normalised, gated by the alias-free SiLU of ``z`` and projected back to ``d``.

    Parameters
    ----------
    d_model
        Channels ``d`` of the input and output.
    d_state
        State size ``N`` per channel (16).
    expand
        ``d_inner = expand * d_model``.
    dt_rank
        Rank of the ``delta`` projection; default ``ceil(d_model / 16)``.
    config
        Filter hyperparameters of the alias-free activation.
    scan_backend
        Backend of :func:`mambano_core.ops.scan.selective_scan_fn`.
    dt_min, dt_max, dt_init_floor
        Range of the initial step sizes ``softplus(dt_bias)``.
    directions
        Scan directions, the first 1, 2 or 4 of :data:`~mambano_core.ops.cross_scan.DIRECTIONS`
        (row-major; row- and column-major; all four), each with its own ``x_proj``, ``dt_proj``,
        ``A_log`` and ``D`` (stacked along a leading axis of that size).
    activation
        ``"alias_free"`` or ``"pointwise"``: the activation after the depthwise convolution and
        the gate (see :mod:`mambano_core.layers.activations`).
    """

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        expand: int = 2,
        dt_rank: int | None = None,
        config: FilterConfig = FilterConfig(),
        scan_backend: str = "auto",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dt_init_floor: float = 1e-4,
        directions: int = 4,
        activation: str = "alias_free",
    ) -> None:
        super().__init__()
        if directions not in DIRECTION_COUNTS:
            raise ValueError(f"directions must be one of {DIRECTION_COUNTS}, got {directions!r}")
        self.d_model, self.d_state, self.directions = d_model, d_state, directions
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank if dt_rank is not None else math.ceil(d_model / 16)
        self.scan_backend = scan_backend
        d_inner, rank = self.d_inner, self.dt_rank

        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv2d = nn.Conv2d(d_inner, d_inner, kernel_size=3, padding=1, groups=d_inner)
        self.act = lrelu(d_inner, 1.0, config, activation)
        # Per-direction parameters, stacked along a leading axis. They are drawn for all four
        # directions and cut, so that with fewer directions the random stream, and with it every
        # other layer's initial weights, is the four-direction network's.
        K, k = len(DIRECTIONS), directions
        x_bound, dt_bound = d_inner**-0.5, rank**-0.5  # nn.Linear's default; Mamba's dt init
        self.x_proj_weight = nn.Parameter(
            torch.empty(K, rank + 2 * d_state, d_inner).uniform_(-x_bound, x_bound)[:k].clone()
        )
        self.dt_proj_weight = nn.Parameter(torch.empty(K, d_inner, rank).uniform_(-dt_bound, dt_bound)[:k].clone())
        self.dt_proj_bias = nn.Parameter(_dt_bias_init(d_inner, K, dt_min, dt_max, dt_init_floor)[:k].clone())
        a_init = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(k, d_inner, 1)
        self.A_log = nn.Parameter(torch.log(a_init))  # S4D-real: A = -(1, ..., N)
        self.D = nn.Parameter(torch.ones(k, d_inner))
        for p in (self.A_log, self.D):
            p._no_weight_decay = True  # type: ignore[attr-defined]  # Mamba's convention
        self.out_norm = nn.LayerNorm(d_inner)
        self.gate = silu_gate(activation)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        for lin in (self.in_proj, self.out_proj):  # VMamba's / the authors' init of linear maps
            nn.init.trunc_normal_(lin.weight, std=0.02)

    def projection_weights(self, dtype: torch.dtype) -> tuple[Tensor, Tensor, Tensor]:
        """Per direction, the maps from the scanned input to the pre-bias step sizes, B and C, in
        ``dtype`` (:func:`~mambano_core.ops.cross_scan.folded_projection`)."""
        return folded_projection(self.x_proj_weight.to(dtype), self.dt_proj_weight.to(dtype), self.d_state)

    def scan(self, x: Tensor) -> Tensor:
        """Cross-scan ``(B, d_inner, H, W)``, run the selective scan once on all directions, merge.

        Returns
        -------
        Tensor
            ``(B, d_inner, H, W)``, the sum of the directions' outputs on the grid.
        """
        batch, dim, height, width = x.shape
        length, K = height * width, self.directions
        work = torch.float32 if x.dtype in (torch.float16, torch.bfloat16) else x.dtype
        xs = cross_scan(x.to(work), K)  # (B, K, d, L)
        dts, bs, cs = shared_input_matmul(xs, *self.projection_weights(work))  # B, C contiguous
        ys = selective_scan_fn(
            xs.reshape(batch, K * dim, length),
            dts.reshape(batch, K * dim, length),
            -torch.exp(self.A_log.to(work)).reshape(K * dim, self.d_state),
            bs,
            cs,
            self.D.to(work).reshape(-1),
            z=None,
            delta_bias=self.dt_proj_bias.to(work).reshape(-1),
            delta_softplus=True,
            backend=self.scan_backend,
        )
        return cross_merge(ys.reshape(batch, K, dim, length), height, width)

    def uses_native_scan(self, x: Tensor) -> bool:
        """Whether :meth:`scan_channels_last` runs the native cross-scan kernel for ``x``.

        On CPU float32 tensors when the backend resolves to ``fused`` and the kernel compiled;
        otherwise (CUDA, float64 checks, ``backend="loop"``/``"torch"``, no C compiler) the
        generic path of :meth:`scan` runs, with the same results to float32 rounding.
        """
        return resolve_backend(self.scan_backend, x.device) == "fused" and native_cross.supports(x, self.d_state)

    def scan_channels_last(self, x: Tensor) -> Tensor:
        """:meth:`scan` of ``(B, d_inner, H, W)``, returned channels last: ``(B, H, W, d_inner)``."""
        if not self.uses_native_scan(x):
            return self.scan(x).permute(0, 2, 3, 1)
        batch, dim, height, width = x.shape
        u = x.permute(0, 2, 3, 1).reshape(batch, height * width, dim)
        params = (self.x_proj_weight, self.dt_proj_weight, -torch.exp(self.A_log), self.D, self.dt_proj_bias)
        y = native_cross.cross_selective_scan(u, *(p.to(x.dtype) for p in params), height, width)
        return y.view(batch, height, width, dim)

    def forward(self, x: Tensor) -> Tensor:
        """Map channels-last ``(B, H, W, d)`` to the same shape."""
        # in_proj as two products: each half comes out contiguous, so the depthwise convolution
        # sees a channels-last tensor (2.5x faster forward+backward on the CPU than on a strided
        # half of one product), and the halves are what the backward keeps (no more memory).
        w_x, w_z = self.in_proj.weight.chunk(2, dim=0)
        xs, z = F.linear(x, w_x), F.linear(x, w_z)
        xs = self.act(self.conv2d(xs.permute(0, 3, 1, 2)))
        y = self.scan_channels_last(xs)
        gate = self.gate(z.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).to(y.dtype)
        if torch.is_autocast_enabled(y.device.type):  # mixed precision: the modules' own casts
            return self.out_proj(self.out_norm(y) * gate)
        norm = self.out_norm
        return norm_gate_project(y, gate, norm.weight, norm.bias, self.out_proj.weight, norm.eps)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, d_inner={self.d_inner}, d_state={self.d_state}, "
            f"dt_rank={self.dt_rank}, directions={self.directions}, scan_backend={self.scan_backend!r}"
        )
