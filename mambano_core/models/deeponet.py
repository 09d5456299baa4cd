"""DeepONet baseline (Lu et al., Nature Machine Intelligence 2021) for 2-D fields."""

from __future__ import annotations

import math

import torch
from torch import nn

from mambano_core.errors import SpecError
from mambano_core.models._args import positive_int as _positive_int
from mambano_core.ops.resample import BOUNDARIES, resample

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}
_BRANCHES = ("cnn", "mlp")



def _choice(name: str, value: object, options: tuple[str, ...] | list[str]) -> str:
    if value not in options:
        raise SpecError(f"{name} must be one of {', '.join(options)}; got {value!r}")
    return str(value)


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Fully connected network ``sizes[0] -> ... -> sizes[-1]``, activation after every hidden layer."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class _ResidualBlock(nn.Module):
    """``x <- 0.9 x + 0.1 conv3x3(act(x))``, the reference branch's bottleneck block."""

    def __init__(self, channels: int, activation: str) -> None:
        super().__init__()
        self.act = _ACTIVATIONS[activation]()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 0.9 * x + 0.1 * self.conv(self.act(x))


def cnn_branch(in_channels: int, size: int, out: int, stages: int, channels: int,
               res_blocks: int, activation: str) -> nn.Sequential:
    """Convolutional encoder: per stage ``conv3x3 (same width) -> act -> conv3x3 (width c 2^i) -> act
    -> 2x2 average pool``, then residual blocks, flatten and a linear map to ``out`` coefficients."""
    layers: list[nn.Module] = []
    width = in_channels
    for i in range(stages):
        new = channels * 2**i
        layers += [
            nn.Conv2d(width, width, 3, padding=1), _ACTIVATIONS[activation](),
            nn.Conv2d(width, new, 3, padding=1), _ACTIVATIONS[activation](),
            nn.AvgPool2d(2),
        ]
        width, size = new, size // 2
    layers += [_ResidualBlock(width, activation) for _ in range(res_blocks)]
    layers += [nn.Flatten(), nn.Linear(width * size * size, out)]
    return nn.Sequential(*layers)


class DeepONet(nn.Module):
    """Deep operator network ``G(u)(y) = sum_k b_k(u) t_k(y) / sqrt(p) + b_0``.

    Lu, Jin, Pang, Zhang & Karniadakis, "Learning nonlinear operators via DeepONet based on
    the universal approximation theorem of operators" (Nature Machine Intelligence, 2021),
    unstacked form: the branch net reads the input sampled on the training grid
    (``resolution x resolution``) and returns ``p`` coefficients per output channel; the trunk
    net (an MLP) maps a coordinate ``y = (x_i, y_j) = (i/H, j/W)`` to ``p`` basis values per
    output channel; each output channel has its own bias ``b_0``. Several output channels
    use disjoint groups of ``p`` branch and trunk outputs. The ``1/sqrt(p)`` scaling is the
    CNO reference's (camlab-ethz/ConvolutionalNeuralOperator, ``DeepOnetNoBiasOrg``).

    The CNN branch follows that reference's ``ConvBranch2D`` (stages of two 3x3 convolutions
    with ``multiply * 2**i`` channels, halving the resolution; residual blocks
    ``0.9 x + 0.1 conv(act(x))``; flatten; linear) without its up/down-sampling around the
    activations, and the trunk is a plain MLP (the reference adds BatchNorm). Default, the
    reference protocol's middle setting (``N_layers=4``, ``N_res=2``, ``multiply=32``,
    ``trunk_layers=4``, ``trunk_neurons=256``, ``basis=100``, leaky ReLU) at 64x64:
    2,395,315 parameters for one input and one output channel.

    The trunk evaluates on any grid. The branch needs the training grid: at another size
    the forward pass raises :class:`ValueError`, unless ``resample_input`` is set, in which
    case the (square) input is resampled to ``resolution`` with
    :func:`mambano_core.ops.resample.resample` (``boundary``) and the output is given on the
    input's grid.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output fields.
    resolution
        Side of the training grid the branch reads.
    branch
        ``"cnn"`` (reference protocol) or ``"mlp"`` (Lu et al.'s fully connected branch on
        the flattened input).
    basis
        Number ``p`` of basis functions per output channel.
    branch_layers
        CNN: down-sampling stages; MLP: hidden layers.
    branch_channels
        CNN: channels of the first stage (doubling per stage).
    branch_res_blocks
        CNN: residual blocks at the coarsest resolution.
    branch_width
        MLP: width of the hidden layers.
    trunk_layers, trunk_width
        Hidden layers and their width in the trunk MLP.
    activation
        ``"leaky_relu"`` (reference), ``"relu"``, ``"tanh"``, ``"gelu"`` or ``"silu"``.
    resample_input
        Resample inputs of another size to ``resolution`` instead of raising.
    boundary
        ``"dirichlet"``, ``"periodic"`` or ``"open"``: how inputs are resampled
        (:func:`mambano_core.ops.resample.resample`).

    Raises
    ------
    SpecError
        If an argument is invalid (e.g. more CNN stages than the grid can halve).
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 1,
        resolution: int = 64,
        branch: str = "cnn",
        basis: int = 100,
        branch_layers: int = 4,
        branch_channels: int = 32,
        branch_res_blocks: int = 2,
        branch_width: int = 256,
        trunk_layers: int = 4,
        trunk_width: int = 256,
        activation: str = "leaky_relu",
        resample_input: bool = False,
        boundary: str = "dirichlet",
    ) -> None:
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.resolution = _positive_int("resolution", resolution, 2)
        branch = _choice("branch", branch, _BRANCHES)
        self.basis = _positive_int("basis", basis)
        branch_layers = _positive_int("branch_layers", branch_layers)
        branch_channels = _positive_int("branch_channels", branch_channels)
        branch_res_blocks = _positive_int("branch_res_blocks", branch_res_blocks, 0)
        branch_width = _positive_int("branch_width", branch_width)
        trunk_layers = _positive_int("trunk_layers", trunk_layers)
        trunk_width = _positive_int("trunk_width", trunk_width)
        activation = _choice("activation", activation, list(_ACTIVATIONS))
        if not isinstance(resample_input, bool):
            raise SpecError(f"resample_input must be true or false, got {resample_input!r}")
        self.resample_input = resample_input
        self.boundary = _choice("boundary", boundary, BOUNDARIES)

        n_out = self.out_channels * self.basis
        self.branch: nn.Module
        if branch == "cnn":
            if self.resolution >> branch_layers < 1:
                raise SpecError(
                    f"resolution {self.resolution} is too small for {branch_layers} CNN branch stages"
                )
            self.branch = cnn_branch(self.in_channels, self.resolution, n_out, branch_layers,
                                     branch_channels, branch_res_blocks, activation)
        else:
            sizes = [self.in_channels * self.resolution**2] + [branch_width] * branch_layers + [n_out]
            self.branch = nn.Sequential(nn.Flatten(), mlp(sizes, activation))
        self.trunk = mlp([2] + [trunk_width] * trunk_layers + [n_out], activation)
        self.bias = nn.Parameter(torch.zeros(self.out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, H, W)`` to ``(batch, out_channels, H, W)``.

        Raises
        ------
        ValueError
            If ``H x W`` is not the training grid and ``resample_input`` is off (or the input
            to resample is not square).
        """
        height, width = x.shape[-2:]
        s = self.resolution
        u = x
        if (height, width) != (s, s):
            if not self.resample_input:
                raise ValueError(
                    f"DeepONet's branch reads inputs on its {s}x{s} training grid, got "
                    f"{height}x{width}; resample the input or build with resample_input=true"
                )
            u = resample(x, s, self.boundary)  # ValueError for non-square inputs
        coeffs = self.branch(u).view(x.shape[0], self.out_channels, self.basis)
        gx = torch.arange(height, dtype=x.dtype, device=x.device) / height
        gy = torch.arange(width, dtype=x.dtype, device=x.device) / width
        coords = torch.stack(torch.meshgrid(gx, gy, indexing="ij"), dim=-1).reshape(-1, 2)
        basis = self.trunk(coords).view(-1, self.out_channels, self.basis)
        out = torch.einsum("bcp,ncp->bcn", coeffs, basis) / math.sqrt(self.basis)
        return (out + self.bias[:, None]).reshape(x.shape[0], self.out_channels, height, width)
