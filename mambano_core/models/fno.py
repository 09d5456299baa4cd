"""Fourier Neural Operator (Li et al., ICLR 2021): neuraloperator's FNO, or a pure-torch twin."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mambano_core.errors import SpecError
from mambano_core.models._args import positive_int as _positive_int

_BACKENDS = ("auto", "neuralop", "native")



def _ratio(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e6:
        raise SpecError(f"{name} must be a number >= 0, got {value!r}")
    return float(value)


class _ChannelMLP(nn.Module):
    """Pointwise MLP of 1x1 ``Conv1d`` layers with GELU between them (neuralop's ``ChannelMLP``)."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        self.fcs = nn.ModuleList(nn.Conv1d(a, b, 1) for a, b in zip(widths[:-1], widths[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(shape[0], shape[1], -1)
        for i, fc in enumerate(self.fcs):
            x = F.gelu(fc(x)) if i < len(self.fcs) - 1 else fc(x)
        return x.reshape(shape[0], -1, *shape[2:])


class _Linear1x1(nn.Module):
    """Bias-free 1x1 convolution skip ``W v`` (neuralop's ``Flattened1dConv``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.reshape(*x.shape[:2], -1)).reshape(x.shape)


class SpectralConv2d(nn.Module):
    """Fourier integral operator ``K v = IFFT(R . FFT(v)) + b`` on the lowest modes.

    The weight has shape ``(in, out, 2 m, m)``: rows are the frequencies ``kx = -m .. m-1``,
    columns ``ky = 0 .. m-1`` (the real FFT's half plane), i.e. Li et al.'s two ``m x m``
    corners. On a grid too coarse for ``m`` modes, only the modes the grid has are used.
    """

    def __init__(self, in_channels: int, out_channels: int, modes: int) -> None:
        super().__init__()
        std = (2 / (in_channels + out_channels)) ** 0.5  # neuralop's "auto" init
        shape = (in_channels, out_channels, 2 * modes, modes)
        # a dict so that the key is "weight.tensor", as tltorch's DenseTensor in neuralop
        self.weight = nn.ParameterDict({"tensor": std * torch.randn(shape, dtype=torch.cfloat)})
        self.bias = nn.Parameter(std * torch.randn(out_channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        weight = self.weight.tensor
        m = weight.shape[-2] // 2
        x_ft = torch.fft.fftshift(torch.fft.rfft2(x, norm="forward"), dim=-2)
        lo, hi = max(-m, -(height // 2)), min(m - 1, (height - 1) // 2)  # kept kx range
        ky = min(weight.shape[-1], width // 2 + 1)
        rows = slice(height // 2 + lo, height // 2 + hi + 1)  # row of kx is height // 2 + kx
        out = x_ft.new_zeros(x.shape[0], weight.shape[1], height, width // 2 + 1)
        out[:, :, rows, :ky] = torch.einsum(
            "bixy,ioxy->boxy", x_ft[:, :, rows, :ky], weight[:, :, m + lo : m + hi + 1, :ky]
        )
        out = torch.fft.ifftshift(out, dim=-2)
        return torch.fft.irfft2(out, s=(height, width), norm="forward") + self.bias


class _Blocks(nn.Module):
    """Fourier layers with neuralop's attribute names (``convs``, ``fno_skips``, ...)."""

    def __init__(self, width: int, modes: int, layers: int, channel_mlp: bool) -> None:
        super().__init__()
        self.convs = nn.ModuleList(SpectralConv2d(width, width, modes) for _ in range(layers))
        self.fno_skips = nn.ModuleList(_Linear1x1(width) for _ in range(layers))
        if channel_mlp:
            widths = [width, round(width * 0.5), width]
            self.channel_mlp = nn.ModuleList(_ChannelMLP(widths) for _ in range(layers))
            self.channel_mlp_skips = nn.ModuleList(  # soft gating w * v, as neuralop's SoftGating
                nn.ParameterDict({"weight": torch.ones(1, width, 1, 1)}) for _ in range(layers))


class _NativeFNO(nn.Module):
    """Pure-torch FNO with neuralop's module tree, so state dicts are interchangeable."""

    def __init__(self, in_ch: int, out_ch: int, modes: int, width: int, layers: int,
                 lifting_ratio: float, projection_ratio: float, channel_mlp: bool) -> None:
        super().__init__()
        lifting = int(lifting_ratio * width)
        self.lifting = _ChannelMLP([in_ch + 2, lifting, width] if lifting else [in_ch + 2, width])
        self.fno_blocks = _Blocks(width, modes, layers, channel_mlp)
        self.projection = _ChannelMLP([width, int(projection_ratio * width), out_ch])

    @staticmethod
    def positional_embedding(x: torch.Tensor) -> torch.Tensor:
        """Append the coordinates ``x_i = i / H`` and ``y_j = j / W`` as two channels."""
        height, width = x.shape[-2:]
        gx = torch.arange(height, dtype=x.dtype, device=x.device) / height
        gy = torch.arange(width, dtype=x.dtype, device=x.device) / width
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="ij"))
        return torch.cat([x, grid.expand(x.shape[0], 2, height, width)], dim=1)


def _paper_forward(net: Any, x: torch.Tensor, layers: int, channel_mlp: bool) -> torch.Tensor:
    """Embedding, lifting, layers ``v <- GELU(K v + W v)`` (none after the last), projection."""
    x, blocks = net.lifting(net.positional_embedding(x)), net.fno_blocks
    act = [F.gelu] * (layers - 1) + [lambda t: t]
    for i in range(layers):
        y = act[i](blocks.convs[i](x) + blocks.fno_skips[i](x))
        if channel_mlp:  # neuralop's block: then v <- GELU(MLP(y) + gate * v)
            y = act[i](blocks.channel_mlp[i](y) + blocks.channel_mlp_skips[i].weight * x)
        x = y
    return net.projection(x)


def neuralop_available() -> bool:
    """Whether neuraloperator >= 2.0 (``use_channel_mlp``) imports; any failure means no."""
    try:
        import neuralop
        from neuralop.models import FNO as _  # noqa: F401
        return int(str(neuralop.__version__).split(".")[0]) >= 2
    except Exception:
        return False


class FNO(nn.Module):
    """Fourier Neural Operator for 2-D fields, any resolution.

    Li, Kovachki, Azizzadenesheli, Liu, Bhattacharya, Stuart & Anandkumar, "Fourier Neural
    Operator for Parametric Partial Differential Equations" (ICLR 2021): the coordinates
    ``(i/H, j/W)`` are appended to the input, a pointwise lifting ``P`` maps to ``width``
    channels, ``layers`` Fourier layers compute ``v <- GELU(K v + W v)`` (no GELU after the
    last; ``K``: spectral convolution on the modes ``-m <= kx < m``, ``0 <= ky < m``, the
    paper's two ``m x m`` corners; ``W``: 1x1 convolution), and a two-layer pointwise
    projection ``Q`` (hidden ``projection_ratio * width``) gives the output.

    ``backend="neuralop"`` (``"auto"``: when it imports) builds ``neuralop.models.FNO(n_modes=
    (2m, 2m-1), hidden_channels=width, n_layers=layers, lifting_channel_ratio=lifting_ratio,
    projection_channel_ratio=projection_ratio, positional_embedding="grid",
    use_channel_mlp=channel_mlp, fno_skip="linear")``; ``"native"`` is a pure-torch copy with
    the same module tree (state dicts load across backends). Without the channel MLP the
    layers are composed here as in the paper: neuralop 2.0.0's own forward applies GELU twice
    between them (neuraloperator issue #728).

    Default (the CNO protocol's FNO, ``m=16``, ``width=64``, 4 layers): 8,413,953 parameters
    for one input and one output channel by :func:`count_parameters` (complex entries counted
    once; 16,802,561 real numbers).

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output fields.
    modes, width, layers
        Fourier modes ``m`` per direction and sign; channels and number of Fourier layers.
    lifting_ratio
        0 (paper): ``P`` is linear; else an MLP with ``int(lifting_ratio * width)`` hidden.
    projection_ratio
        Hidden channels of ``Q`` over ``width`` (2: 128 at width 64, as the paper).
    channel_mlp
        Add neuralop's per-layer channel MLP with soft-gated skip (not in the paper).
    backend
        ``"auto"`` (neuralop if importable, else native), ``"neuralop"`` or ``"native"``.

    Raises
    ------
    SpecError
        If an argument is invalid, or ``backend="neuralop"`` and neuralop does not import.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        modes: int = 16,
        width: int = 64,
        layers: int = 4,
        lifting_ratio: float = 0.0,
        projection_ratio: float = 2.0,
        channel_mlp: bool = False,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        in_channels = _positive_int("in_channels", in_channels)
        out_channels = _positive_int("out_channels", out_channels)
        modes, width = _positive_int("modes", modes), _positive_int("width", width)
        self.layers = _positive_int("layers", layers)
        lifting_ratio = _ratio("lifting_ratio", lifting_ratio)
        projection_ratio = _ratio("projection_ratio", projection_ratio)
        if int(projection_ratio * width) < 1:
            raise SpecError(f"projection_ratio * width must be >= 1, got {projection_ratio}")
        if not isinstance(channel_mlp, bool):
            raise SpecError(f"channel_mlp must be true or false, got {channel_mlp!r}")
        if backend not in _BACKENDS:
            raise SpecError(f"backend must be one of {', '.join(_BACKENDS)}; got {backend!r}")
        self.channel_mlp = channel_mlp
        if backend == "auto":
            backend = "neuralop" if neuralop_available() else "native"
        elif backend == "neuralop" and not neuralop_available():
            raise SpecError("backend 'neuralop' needs neuraloperator >= 2.0, which did not import")
        self.backend = backend
        self.net: nn.Module
        if backend == "native":
            self.net = _NativeFNO(in_channels, out_channels, modes, width, self.layers,
                                  lifting_ratio, projection_ratio, channel_mlp)
            return
        from neuralop.models import FNO as NeuralopFNO

        self.net = NeuralopFNO(  # n_modes=(2m, 2m-1): kx in [-m, m-1], ky in [0, m-1]
            n_modes=(2 * modes, 2 * modes - 1), in_channels=in_channels, out_channels=out_channels,
            hidden_channels=width, n_layers=self.layers, lifting_channel_ratio=lifting_ratio,
            projection_channel_ratio=projection_ratio, positional_embedding="grid",
            use_channel_mlp=channel_mlp, fno_skip="linear",
        )
        got = tuple(self.net.fno_blocks.convs[0].weight.shape[-2:])
        if got != (2 * modes, modes):
            raise SpecError(f"this neuralop version keeps {got} modes, not {(2 * modes, modes)}; "
                            "use backend 'native'")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``."""
        if self.backend == "neuralop" and self.channel_mlp:
            return self.net(x)
        return _paper_forward(self.net, x, self.layers, self.channel_mlp)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """The parameters only: neuralop adds an unprefixed ``_metadata`` entry, dropped here."""
        state = super().state_dict(*args, **kwargs)
        state.pop("_metadata", None)
        return state
