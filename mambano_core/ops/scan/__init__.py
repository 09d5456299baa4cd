"""Selective scan with mamba-ssm's ``selective_scan_fn`` contract and several backends.

Mamba selective state-space scan (Gu & Dao 2023, Alg. 2)::

    h_t = exp(delta_t A) h_{t-1} + delta_t B_t u_t,   y_t = <C_t, h_t> + D u_t,   out = y silu(z)

Backends (``backend=``):

``loop``
    Plain sequential recurrence in PyTorch; the test oracle (slow, differentiable by autograd).
``torch``
    Chunked parallel scan in pure PyTorch with its own backward; any device, bounded memory.
``fused``
    Numba CPU kernels (forward and backward), never materialising the (batch, dim, L, N) states.
``cuda``
    mamba-ssm's CUDA kernel (optional extra ``mambano[cuda]``), CUDA tensors only.
``auto``
    CUDA tensors: ``cuda`` if mamba-ssm imports, else ``torch``; CPU tensors: ``fused`` if numba
    imports, else ``torch``. The environment variable ``MAMBANO_SCAN_BACKEND`` (one of the names
    above) overrides this choice; an explicit ``backend=`` argument is never overridden.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import Tensor

from mambano_core.ops.scan._common import ENV_BACKEND, BackendUnavailableError
from mambano_core.ops.scan.cuda import cuda_backend_available, selective_scan_cuda
from mambano_core.ops.scan.fused import numba_available, selective_scan_fused
from mambano_core.ops.scan.loop import selective_scan_loop
from mambano_core.ops.scan.parallel import selective_scan_torch

__all__ = [
    "BACKENDS",
    "ENV_BACKEND",
    "BackendUnavailableError",
    "available_backends",
    "resolve_backend",
    "selective_scan_fn",
]

#: Backend names accepted by :func:`selective_scan_fn` besides ``"auto"``.
BACKENDS = ("loop", "torch", "fused", "cuda")

_IMPLS = {
    "loop": selective_scan_loop,
    "torch": selective_scan_torch,
    "fused": selective_scan_fused,
    "cuda": selective_scan_cuda,
}
_logger = logging.getLogger("mambano.scan")
_logged: set[tuple[str, str]] = set()


def available_backends(device: torch.device | str = "cpu") -> tuple[str, ...]:
    """Backends that can run on ``device`` in this environment (``"auto"`` excluded)."""
    dev = torch.device(device)
    names = ["loop", "torch"]
    if dev.type == "cpu" and numba_available():
        names.append("fused")
    if dev.type == "cuda" and cuda_backend_available():
        names.append("cuda")
    return tuple(names)


def _auto(dev: torch.device) -> str:
    """The default backend for a device (see the module docstring)."""
    if dev.type == "cuda" and cuda_backend_available():
        return "cuda"
    if dev.type == "cpu" and numba_available():
        return "fused"
    return "torch"


def resolve_backend(backend: str, device: torch.device | str) -> str:
    """Concrete backend name for ``backend`` (possibly ``"auto"``) on ``device``.

    Raises
    ------
    ValueError
        For an unknown name (also when it comes from ``MAMBANO_SCAN_BACKEND``).
    """
    dev = torch.device(device)
    if backend != "auto":
        if backend not in BACKENDS:
            raise ValueError(f"unknown scan backend {backend!r}; expected 'auto' or one of {BACKENDS}")
        return backend
    env = os.environ.get(ENV_BACKEND, "").strip().lower()
    if env and env != "auto":
        if env not in BACKENDS:
            raise ValueError(f"{ENV_BACKEND}={env!r} is not a scan backend; expected one of {BACKENDS}")
        chosen = env
    else:
        chosen = _auto(dev)
    if (dev.type, chosen) not in _logged:
        _logged.add((dev.type, chosen))
        source = f" (from {ENV_BACKEND})" if env and env != "auto" else ""
        _logger.debug("selective scan on %s uses the %r backend%s", dev.type, chosen, source)
    return chosen


def selective_scan_fn(
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
    backend: str = "auto",
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan with mamba-ssm's ``selective_scan_fn`` contract (Gu & Dao 2023).

    Parameters
    ----------
    u, delta : Tensor
        Input and step sizes, (batch, dim, L).
    A : Tensor
        Real state matrix (dim, N).
    B, C : Tensor
        (dim, N) time-invariant, (batch, N, L) shared by all channels, or (batch, G, N, L)
        grouped (channel d uses group d // (dim / G)).
    D : Tensor, optional
        Skip weight (dim,): out += D u.
    z : Tensor, optional
        Gate (batch, dim, L): out *= silu(z).
    delta_bias : Tensor, optional
        Added to delta (per channel, (dim,)) before the optional softplus.
    delta_softplus : bool
        Apply softplus to delta (+ delta_bias).
    return_last_state : bool
        Also return the final state h_L, (batch, dim, N), in the compute dtype.
    backend : str
        ``"auto"`` or one of :data:`BACKENDS` (see the module docstring).

    Returns
    -------
    Tensor or tuple of Tensor
        ``out`` (batch, dim, L) in u's dtype, and the last state if requested. Computation is in
        float32 (float64 for float64 inputs; half/bfloat16 are upcast); gradients come back in
        each input's dtype.

    Raises
    ------
    ValueError
        For bad shapes, an unknown backend or a backend that cannot run on the tensors' device.
    BackendUnavailableError
        If the requested backend's optional dependency (numba, mamba-ssm) does not import.
    """
    name = resolve_backend(backend, u.device)
    return _IMPLS[name](u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state)
