"""Galerkin Transformer baseline (Cao, NeurIPS 2021): softmax-free linear attention on grid points."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mambano_core.errors import SpecError
from mambano_core.models.fno import SpectralConv2d
from mambano_core.models._args import positive_int as _positive_int

_DECODERS = ("spectral", "pointwise")



class GalerkinAttention(nn.Module):
    """Multi-head Galerkin attention ``z = Q (LN(K)^T LN(V)) / n``, no softmax.

    Per head, the coordinates are appended to ``Q``, ``K`` and ``V`` (``d_k + 2`` columns), as
    in Cao's ``SimpleAttention(pos_dim=2)``, and a linear layer maps the concatenated heads
    back to ``width``. ``W^Q, W^K, W^V`` start as Xavier-uniform (gain ``xavier_gain``) plus
    ``diagonal * I``, biases as zero (Cao's recommended initialisation).
    """

    def __init__(self, width: int, heads: int, xavier_gain: float = 1e-2, diagonal: float = 1e-2) -> None:
        super().__init__()
        self.heads, self.d_k = heads, width // heads
        self.qkv = nn.ModuleList(nn.Linear(width, width) for _ in range(3))
        self.norm_k = nn.ModuleList(nn.LayerNorm(self.d_k) for _ in range(heads))
        self.norm_v = nn.ModuleList(nn.LayerNorm(self.d_k) for _ in range(heads))
        self.out = nn.Linear(width + 2 * heads, width)
        for linear in self.qkv:
            nn.init.xavier_uniform_(linear.weight, gain=xavier_gain)
            with torch.no_grad():
                linear.weight += diagonal * torch.eye(width)
            nn.init.zeros_(linear.bias)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """``x``: ``(batch, n, width)``; ``pos``: ``(n, 2)``."""
        batch, n, _ = x.shape
        q, k, v = (lin(x).view(batch, n, self.heads, self.d_k).transpose(1, 2) for lin in self.qkv)
        k = torch.stack([norm(k[:, h]) for h, norm in enumerate(self.norm_k)], dim=1)
        v = torch.stack([norm(v[:, h]) for h, norm in enumerate(self.norm_v)], dim=1)
        pos = pos.expand(batch, self.heads, n, 2)
        q, k, v = (torch.cat([pos, t], dim=-1) for t in (q, k, v))
        z = q @ (k.transpose(-2, -1) @ v / n)  # (batch, heads, n, d_k + 2): cost O(n d^2)
        return self.out(z.transpose(1, 2).reshape(batch, n, -1))


class _EncoderLayer(nn.Module):
    """``x <- x + Attn(x)``, then ``x <- x + FFN(x)`` (ReLU FFN; Cao's setting without layer norm)."""

    def __init__(self, width: int, heads: int, ffn_width: int, dropout: float) -> None:
        super().__init__()
        self.attn = GalerkinAttention(width, heads)
        self.ffn = nn.Sequential(nn.Linear(width, ffn_width), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(x, pos))
        return x + self.dropout(self.ffn(x))


class _SpectralDecoder(nn.Module):
    """Cao's ``SpectralRegressor``: ``[v, x, y] -> linear -> (SiLU(K v + W v)) x layers -> MLP``."""

    def __init__(self, width: int, out_channels: int, hidden: int, modes: int, layers: int) -> None:
        super().__init__()
        self.fc = nn.Linear(width + 2, hidden)
        self.convs = nn.ModuleList(SpectralConv2d(hidden, hidden, modes) for _ in range(layers))
        self.skips = nn.ModuleList(nn.Conv2d(hidden, hidden, 1) for _ in range(layers))
        self.regressor = nn.Sequential(nn.Linear(hidden, 4 * hidden), nn.SiLU(), nn.Linear(4 * hidden, out_channels))

    def forward(self, v: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        """``v``: ``(batch, H, W, width)``, ``grid``: ``(batch, H, W, 2)`` -> ``(batch, H, W, out)``."""
        v = self.fc(torch.cat([v, grid], dim=-1)).permute(0, 3, 1, 2)
        for conv, skip in zip(self.convs, self.skips):
            v = F.silu(conv(v) + skip(v))
        return self.regressor(v.permute(0, 2, 3, 1))


class _PointwiseDecoder(nn.Module):
    """Cao's ``PointwiseRegressor``: ``[v, x, y] -> linear -> (linear, SiLU) x layers -> linear``."""

    def __init__(self, width: int, out_channels: int, hidden: int, layers: int) -> None:
        super().__init__()
        mids: list[nn.Module] = [nn.Linear(width + 2, hidden)]
        for _ in range(layers):
            mids += [nn.Linear(hidden, hidden), nn.SiLU()]
        self.net = nn.Sequential(*mids, nn.Linear(hidden, out_channels))

    def forward(self, v: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([v, grid], dim=-1))


class GalerkinTransformer(nn.Module):
    """Galerkin Transformer on the grid points, any resolution.

    Cao, "Choose a Transformer: Fourier or Galerkin" (NeurIPS 2021): the field values at the
    ``n = H W`` grid points are lifted linearly to ``width`` features; ``layers`` encoder
    layers apply multi-head Galerkin attention ``Q (K~^T V~) / n`` (softmax-free; layer norm
    on ``K`` and ``V`` per head; the coordinates ``(i/H, j/W)`` appended to every head) and a
    ReLU feed-forward network, each with a residual connection; a decoder maps the features
    and coordinates to the output. ``decoder="spectral"`` is Cao's 2-D ``SpectralRegressor``
    (linear, ``decoder_layers`` FNO-type layers ``SiLU(K v + W v)`` on ``modes`` modes, a
    two-layer SiLU MLP); ``"pointwise"`` is the ``PointwiseRegressor`` (a SiLU MLP per
    point). Cao's CNN down/up-scalers around the encoder are not used: attention runs on
    all grid points (linear cost in ``n``).

    Default: ``width=128``, 4 heads, 4 layers, ``ffn_width=256``, spectral decoder with 32
    channels and 12 modes (Cao's Darcy settings; the CNO paper selects GT sizes per
    benchmark): 1,134,817 parameters for one input and one output channel (as counted by
    :func:`count_parameters`, complex entries once; 1,724,641 real numbers).

    Training: give it a warm-up and a lower rate than the paper's shared 1e-3, e.g.
    ``training: {lr: 3.0e-4, warmup_epochs: 2}`` (``mambano reproduce`` does; Cao uses a one-cycle
    schedule). At 1e-3 from the first step its loss diverged on all eight cpu-small benchmarks
    (docs/results.md).

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output fields.
    width
        Feature dimension ``d`` of the encoder (divisible by ``heads``).
    heads
        Attention heads.
    layers
        Encoder layers.
    ffn_width
        Hidden width of the feed-forward networks.
    decoder
        ``"spectral"`` or ``"pointwise"``.
    decoder_width
        Hidden channels of the decoder.
    modes
        Spectral decoder: Fourier modes per direction and sign.
    decoder_layers
        Spectral decoder: Fourier layers; pointwise decoder: hidden layers.
    dropout
        Dropout after attention and in the feed-forward networks (Cao: 0.05).

    Raises
    ------
    SpecError
        If an argument is invalid.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        width: int = 128,
        heads: int = 4,
        layers: int = 4,
        ffn_width: int = 256,
        decoder: str = "spectral",
        decoder_width: int = 32,
        modes: int = 12,
        decoder_layers: int = 2,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        width, heads = _positive_int("width", width), _positive_int("heads", heads)
        if width % heads:
            raise SpecError(f"width ({width}) must be divisible by heads ({heads})")
        layers, ffn_width = _positive_int("layers", layers), _positive_int("ffn_width", ffn_width)
        if decoder not in _DECODERS:
            raise SpecError(f"decoder must be one of {', '.join(_DECODERS)}; got {decoder!r}")
        decoder_width = _positive_int("decoder_width", decoder_width)
        modes, decoder_layers = _positive_int("modes", modes), _positive_int("decoder_layers", decoder_layers)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise SpecError(f"dropout must be a number in [0, 1), got {dropout!r}")

        self.lift = nn.Linear(in_channels, width)
        self.encoder = nn.ModuleList(_EncoderLayer(width, heads, ffn_width, dropout) for _ in range(layers))
        self.decoder: nn.Module
        if decoder == "spectral":
            self.decoder = _SpectralDecoder(width, out_channels, decoder_width, modes, decoder_layers)
        else:
            self.decoder = _PointwiseDecoder(width, out_channels, decoder_width, decoder_layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``."""
        batch, _, height, width = x.shape
        gx = torch.arange(height, dtype=x.dtype, device=x.device) / height
        gy = torch.arange(width, dtype=x.dtype, device=x.device) / width
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="ij"), dim=-1)  # (H, W, 2)
        v = self.lift(x.permute(0, 2, 3, 1).reshape(batch, height * width, -1))
        pos = grid.reshape(1, 1, height * width, 2)
        for layer in self.encoder:
            v = layer(v, pos)
        v = v.view(batch, height, width, -1)
        out = self.decoder(v, grid.expand(batch, height, width, 2))
        return out.permute(0, 3, 1, 2).contiguous()
