"""The ``cuda`` backend: mamba-ssm's fused CUDA selective scan, imported lazily.

Mamba (Gu & Dao 2023): mamba-ssm's ``selective_scan_fn`` is the reference implementation of the
contract every backend here follows. It needs its compiled CUDA extension, so it is imported only
when a CUDA tensor asks for it, and only used if the import succeeds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import Tensor

from mambano_core.ops.scan._common import BackendUnavailableError, check_inputs


@functools.cache
def _load() -> tuple[Callable[..., Any] | None, str]:
    """mamba-ssm's ``selective_scan_fn`` and an empty reason, or None and why it failed."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as exc:  # ImportError, or a broken CUDA/triton install
        return None, f"{type(exc).__name__}: {exc}"
    return selective_scan_fn, ""


def cuda_backend_available() -> bool:
    """Whether mamba-ssm's CUDA selective scan imports (it also needs a CUDA device)."""
    import torch

    return torch.cuda.is_available() and _load()[0] is not None


def load_mamba_ssm_scan() -> Callable[..., Any]:
    """mamba-ssm's ``selective_scan_fn``.

    Raises
    ------
    BackendUnavailableError
        If mamba-ssm (or its compiled extension) does not import, with the reason.
    """
    fn, reason = _load()
    if fn is None:
        raise BackendUnavailableError(
            "the 'cuda' scan backend needs mamba-ssm with its compiled CUDA extension "
            f"(pip install 'mambano[cuda]'), but importing it failed: {reason}. "
            "Use backend='torch' (or 'auto') instead."
        )
    return fn


def selective_scan_cuda(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan through mamba-ssm's CUDA kernel (same contract as the other backends).

    Raises
    ------
    ValueError
        If the tensors are not CUDA tensors.
    BackendUnavailableError
        If mamba-ssm (or its compiled extension) does not import.
    """
    check_inputs(u, delta, A, B, C, D, z, delta_bias)
    if u.device.type != "cuda":
        raise ValueError(
            f"the 'cuda' scan backend needs CUDA tensors, got tensors on {u.device}; "
            "use backend='auto', 'fused' or 'torch' on the CPU"
        )
    fn = load_mamba_ssm_scan()
    return fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
