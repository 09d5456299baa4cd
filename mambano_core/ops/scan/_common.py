"""Argument checks and small helpers shared by the selective-scan backends.

The contract is mamba-ssm's ``selective_scan_fn`` (Mamba, Gu & Dao 2023, Alg. 2):
h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,  y_t = <C_t, h_t> + D u_t,  out = y * silu(z).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

#: Environment variable that overrides ``backend="auto"`` (e.g. ``MAMBANO_SCAN_BACKEND=torch``).
ENV_BACKEND = "MAMBANO_SCAN_BACKEND"


class BackendUnavailableError(RuntimeError):
    """A selective-scan backend was requested whose optional dependency does not import."""


@dataclass(frozen=True)
class ScanShape:
    """Sizes of one selective-scan call.

    Attributes
    ----------
    batch, dim, length, dstate : int
        Batch size, channels (``dim``), sequence length ``L`` and state size ``N``.
    groups_b, groups_c : int
        Number of groups of B and C: 0 for a time-invariant ``(dim, N)`` tensor, 1 for a
        shared ``(batch, N, L)`` one, ``G`` for a grouped ``(batch, G, N, L)`` one.
    """

    batch: int
    dim: int
    length: int
    dstate: int
    groups_b: int
    groups_c: int


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """Computation dtype: float64 for float64 inputs, float32 otherwise (half/bf16 upcast)."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _bc_groups(x: Tensor, name: str, batch: int, dim: int, dstate: int, length: int) -> int:
    """Number of groups of B or C (0 = time-invariant); raise ValueError on a bad shape."""
    if x.dim() == 2 and tuple(x.shape) == (dim, dstate):
        return 0
    if x.dim() == 3 and tuple(x.shape) == (batch, dstate, length):
        return 1
    if x.dim() == 4 and x.shape[0] == batch and tuple(x.shape[2:]) == (dstate, length):
        groups = int(x.shape[1])
        if groups < 1 or dim % groups != 0:
            raise ValueError(f"{name}: dim={dim} is not divisible by its {groups} groups")
        return groups
    raise ValueError(
        f"{name} has shape {tuple(x.shape)}; expected (dim, N)=({dim}, {dstate}), "
        f"(batch, N, L)=({batch}, {dstate}, {length}) or (batch, G, N, L)"
    )


def _check_vector(x: Tensor | None, name: str, dim: int) -> None:
    """Check that an optional per-channel tensor has shape (dim,)."""
    if x is not None and tuple(x.shape) != (dim,):
        raise ValueError(f"{name} has shape {tuple(x.shape)}; expected ({dim},)")


def check_inputs(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None,
    z: Tensor | None,
    delta_bias: Tensor | None,
) -> ScanShape:
    """Validate shapes against the mamba-ssm contract and return the sizes.

    Raises
    ------
    ValueError
        If a shape, a group count or a dtype (complex A) does not fit the contract.
    """
    if u.dim() != 3:
        raise ValueError(f"u must be (batch, dim, L); got shape {tuple(u.shape)}")
    batch, dim, length = (int(s) for s in u.shape)
    if min(batch, dim, length) < 1:
        raise ValueError(f"u must have non-empty (batch, dim, L); got shape {tuple(u.shape)}")
    if tuple(delta.shape) != tuple(u.shape):
        raise ValueError(f"delta has shape {tuple(delta.shape)}; expected {tuple(u.shape)}")
    if z is not None and tuple(z.shape) != tuple(u.shape):
        raise ValueError(f"z has shape {tuple(z.shape)}; expected {tuple(u.shape)}")
    if A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A must be (dim, N) with dim={dim}; got shape {tuple(A.shape)}")
    if A.is_complex() or u.is_complex():
        raise ValueError("complex selective scans are not supported; A and u must be real")
    dstate = int(A.shape[1])
    gb = _bc_groups(B, "B", batch, dim, dstate, length)
    gc = _bc_groups(C, "C", batch, dim, dstate, length)
    _check_vector(D, "D", dim)
    _check_vector(delta_bias, "delta_bias", dim)
    if gb > 1 and gc > 1 and max(gb, gc) % min(gb, gc) != 0:
        raise ValueError(f"B and C group counts ({gb}, {gc}) must divide one another")
    return ScanShape(batch, dim, length, dstate, gb, gc)


def single_group_as_shared(x: Tensor) -> Tensor:
    """B or C of one group, ``(batch, 1, N, L)``, as the shared ``(batch, N, L)`` it equals.

    :func:`check_inputs` counts both as one group; the ``torch`` and ``fused`` backends address the
    shared layout. A view: autograd gives the gradient back in the caller's shape.
    """
    return x.squeeze(1) if x.dim() == 4 and x.shape[1] == 1 else x


def common_groups(shape: ScanShape) -> int:
    """Finest group count of B and C (1 when both are shared or time-invariant)."""
    return max(1, shape.groups_b, shape.groups_c)
