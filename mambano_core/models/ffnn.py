"""Feed-forward network on the flattened field (the CNO paper's "FFNN" baseline), fixed grid."""

from __future__ import annotations

import torch
from torch import nn

from mambano_core.errors import SpecError
from mambano_core.models._args import positive_int as _positive_int

_ACTIVATIONS: dict[str, type[nn.Module]] = {
    "leaky_relu": nn.LeakyReLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}



def _norm(width: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm1d(width) if batch_norm else nn.Identity()


class _ResidualBlock(nn.Module):
    """``act(x + N(L2(N(act(L1 x)))))`` with ``N`` BatchNorm or identity (reference ``ResidualBlock``)."""

    def __init__(self, width: int, activation: str, batch_norm: bool) -> None:
        super().__init__()
        self.act = _ACTIVATIONS[activation]()
        self.body = nn.Sequential(
            nn.Linear(width, width), _ACTIVATIONS[activation](), _norm(width, batch_norm),
            nn.Linear(width, width), _norm(width, batch_norm),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class FFNN(nn.Module):
    """Fully connected network from the flattened input field to the flattened output field.

    The "FFNN" baseline of Raonic et al., "Convolutional Neural Operators for robust and
    accurate learning of PDEs" (NeurIPS 2023), whose reference code (``Resnet`` in
    camlab-ethz/ConvolutionalNeuralOperator, ``_OtherModels/BaselinesModules.py``) is a
    ResNet-MLP: ``Linear(C H W -> n) + act``, then ``(layers - 1) // 2`` residual blocks of
    two linear layers (``act(x + BN(L2(BN(act(L1 x)))))``) and ``(layers - 1) % 2`` plain
    layers ``BN(act(L x))``, then ``Linear(n -> C' H W)``; leaky ReLU; layers and width
    chosen by model selection over {4, ..., 16} x {32, ..., 512}. ``residual=False`` gives
    a plain MLP with ``layers`` hidden layers (the classic FFNN).

    Default: 4 hidden layers of width 256, residual, BatchNorm, leaky ReLU, 64x64 grid:
    2,300,416 parameters for one input and one output channel.

    The grid is fixed: inputs of another size raise :class:`ValueError` (resample them to
    ``resolution`` first). In training mode BatchNorm needs batches of more than one sample.

    Parameters
    ----------
    in_channels, out_channels
        Channels of the input and output fields.
    resolution
        Side ``H = W`` of the grid.
    width
        Width ``n`` of the hidden layers.
    layers
        Number of hidden layers.
    residual
        Group the hidden layers into residual blocks (reference) or not.
    batch_norm
        BatchNorm after the hidden layers (reference) or none.
    activation
        ``"leaky_relu"`` (reference), ``"relu"``, ``"tanh"``, ``"gelu"`` or ``"silu"``.

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
        resolution: int = 64,
        width: int = 256,
        layers: int = 4,
        residual: bool = True,
        batch_norm: bool = True,
        activation: str = "leaky_relu",
    ) -> None:
        super().__init__()
        self.in_channels = _positive_int("in_channels", in_channels)
        self.out_channels = _positive_int("out_channels", out_channels)
        self.resolution = _positive_int("resolution", resolution)
        width, layers = _positive_int("width", width), _positive_int("layers", layers)
        for name, flag in (("residual", residual), ("batch_norm", batch_norm)):
            if not isinstance(flag, bool):
                raise SpecError(f"{name} must be true or false, got {flag!r}")
        if activation not in _ACTIVATIONS:
            raise SpecError(f"activation must be one of {', '.join(_ACTIVATIONS)}; got {activation!r}")

        n_points = self.resolution**2
        hidden: list[nn.Module] = [nn.Linear(self.in_channels * n_points, width), _ACTIVATIONS[activation]()]
        plain = layers - 1
        if residual:
            hidden += [_ResidualBlock(width, activation, batch_norm) for _ in range((layers - 1) // 2)]
            plain = (layers - 1) % 2
        for _ in range(plain):
            hidden += [nn.Linear(width, width), _ACTIVATIONS[activation](), _norm(width, batch_norm)]
        self.hidden = nn.Sequential(*hidden)
        self.output = nn.Linear(width, self.out_channels * n_points)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, in_channels, s, s)`` to ``(batch, out_channels, s, s)``, ``s = resolution``.

        Raises
        ------
        ValueError
            If the input is not on the ``resolution x resolution`` grid.
        """
        s = self.resolution
        if tuple(x.shape[-2:]) != (s, s):
            raise ValueError(
                f"FFNN works on its {s}x{s} training grid only, got {x.shape[-2]}x{x.shape[-1]}; "
                f"resample the input to {s}x{s}"
            )
        out = self.output(self.hidden(x.reshape(x.shape[0], -1)))
        return out.view(x.shape[0], self.out_channels, s, s)
