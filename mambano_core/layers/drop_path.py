"""Stochastic depth (Huang et al., ECCV 2016) on residual branches, as in VMamba and MambaNO."""

from __future__ import annotations

from torch import Tensor, nn


class DropPath(nn.Module):
    """Zero a residual branch for a random subset of samples while training (rescaled by 1/keep).

    Parameters
    ----------
    p
        Probability of dropping the branch of a sample.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop-path probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        """Identity in evaluation mode or when ``p == 0``."""
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p:g}"
