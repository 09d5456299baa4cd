"""Selective scan backends against the sequential oracle (Mamba, Gu & Dao 2023, Alg. 2).

The ``loop`` backend is the oracle; ``torch`` and ``fused`` must match it in values and gradients
for every B/C layout and option of mamba-ssm's ``selective_scan_fn`` contract.
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np
import pytest
import torch

from mambano_core.ops import scan
from mambano_core.ops.scan import (
    BackendUnavailableError,
    available_backends,
    resolve_backend,
    selective_scan_fn,
)
from mambano_core.ops.scan.fused import numba_available

FAST = [b for b in ("torch", "fused") if b in available_backends("cpu")]
LAYOUTS = ("invariant", "shared", "groups2", "groups4")
LENGTHS = (1, 7, 100, 257)
# (z, D, delta_bias, delta_softplus, return_last_state), cycled over the layout x length grid
OPTIONS = (
    (True, True, True, True, True),
    (False, False, False, False, False),
    (True, False, False, True, True),
    (False, True, True, False, True),
)
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def make_inputs(
    batch: int,
    dim: int,
    length: int,
    dstate: int,
    layout: str,
    options: tuple[bool, ...] = (True,) * 5,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
) -> dict:
    """Random scan inputs (keyword arguments of selective_scan_fn, without the backend)."""
    z_on, d_on, bias_on, softplus, last = options
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    if layout == "invariant":
        B, C = rnd(dim, dstate), rnd(dim, dstate)
    elif layout == "shared":
        B, C = rnd(batch, dstate, length), rnd(batch, dstate, length)
    else:
        groups = int(layout[-1])
        B, C = rnd(batch, groups, dstate, length), rnd(batch, groups, dstate, length)
    delta = rnd(batch, dim, length) if softplus else torch.rand(batch, dim, length, generator=g).double()
    args = dict(
        u=rnd(batch, dim, length),
        delta=delta * 0.5,
        A=-torch.exp(rnd(dim, dstate) * 0.5),
        B=B,
        C=C,
        D=rnd(dim) if d_on else None,
        z=rnd(batch, dim, length) if z_on else None,
        delta_bias=rnd(dim) * 0.1 if bias_on else None,
        delta_softplus=softplus,
        return_last_state=last,
    )
    return {k: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for k, v in args.items()}


def leaves(args: dict, names: tuple[str, ...] = NAMES) -> dict:
    """Detached copies of the tensor arguments, with requires_grad on ``names``."""
    out = {}
    for k, v in args.items():
        if isinstance(v, torch.Tensor):
            v = v.detach().clone().requires_grad_(k in names)
        out[k] = v
    return out


def run(args: dict, backend: str, seed: int = 1) -> tuple[list, dict]:
    """Outputs and gradients of a random linear functional of them."""
    outs = selective_scan_fn(**args, backend=backend)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    g = torch.Generator().manual_seed(seed)
    loss = sum((o.double() * torch.randn(o.shape, generator=g, dtype=torch.float64)).sum() for o in outs)
    tensors = {k: v for k, v in args.items() if isinstance(v, torch.Tensor) and v.requires_grad}
    grads = torch.autograd.grad(loss, list(tensors.values()))
    return [o.detach() for o in outs], dict(zip(tensors, grads))


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """Norm-wise relative error of a against the reference b."""
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


GRID = [
    (layout, length, OPTIONS[i % len(OPTIONS)])
    for i, (layout, length) in enumerate(itertools.product(LAYOUTS, LENGTHS))
]


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize(("layout", "length", "options"), GRID)
def test_matches_loop_float64(backend: str, layout: str, length: int, options: tuple) -> None:
    args = make_inputs(2, 8, length, 3, layout, options, seed=length)
    ref_out, ref_grads = run(leaves(args), "loop")
    out, grads = run(leaves(args), backend)
    for o, r in zip(out, ref_out):
        assert o.dtype == r.dtype and o.shape == r.shape
        torch.testing.assert_close(o, r, rtol=1e-10, atol=1e-10)
    assert grads.keys() == ref_grads.keys()
    for name, r in ref_grads.items():
        assert grads[name].shape == r.shape, name
        torch.testing.assert_close(grads[name], r, rtol=1e-9, atol=1e-10, msg=name)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize(("layout_b", "layout_c"), [("invariant", "groups2"), ("shared", "groups4"), ("groups2", "groups4"), ("groups4", "invariant")])  # noqa: E501
def test_mixed_layouts(backend: str, layout_b: str, layout_c: str) -> None:
    """B and C may have different layouts (mamba-ssm decides per tensor)."""
    args = make_inputs(2, 8, 37, 3, layout_b, seed=17)
    args["C"] = make_inputs(2, 8, 37, 3, layout_c, seed=18)["C"]
    ref_out, ref_grads = run(leaves(args), "loop")
    out, grads = run(leaves(args), backend)
    for o, r in zip(out, ref_out):
        torch.testing.assert_close(o, r, rtol=1e-10, atol=1e-10)
    for name, r in ref_grads.items():
        torch.testing.assert_close(grads[name], r, rtol=1e-9, atol=1e-10, msg=name)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dim", [4, 8])  # fused float32: one channel at a time, and across lanes
def test_single_group_layout(backend: str, dtype: torch.dtype, dim: int) -> None:
    """(batch, 1, N, L): one group, as SS2D with one scan direction passes B and C; values and
    gradients (in that shape) as the oracle's."""
    args = make_inputs(2, dim, 37, 3, "groups1", dtype=dtype, seed=19)
    ref_out, ref_grads = run(leaves(args), "loop")
    out, grads = run(leaves(args), backend)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for o, r in zip(out, ref_out):
        torch.testing.assert_close(o, r, rtol=tol, atol=tol)
    for name, r in ref_grads.items():
        assert grads[name].shape == r.shape == args[name].shape, name
        torch.testing.assert_close(grads[name], r, rtol=tol * 10, atol=tol * 10, msg=name)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("layout", ["invariant", "shared", "groups2"])
def test_gradcheck(backend: str, layout: str) -> None:
    args = make_inputs(2, 4, 9, 3, layout, seed=3)
    tensors = {k: v.requires_grad_(True) for k, v in args.items() if isinstance(v, torch.Tensor)}

    def fn(*xs: torch.Tensor):
        kw = {**args, **dict(zip(tensors, xs))}
        return selective_scan_fn(**kw, backend=backend)

    assert torch.autograd.gradcheck(fn, tuple(tensors.values()), eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("layout", ["shared", "groups4"])
def test_float32_long_sequence_accuracy(backend: str, layout: str) -> None:
    """float32 at L=4096 against the float64 oracle: relative error <= 1e-5 (values and grads)."""
    args = make_inputs(2, 8, 4096, 16, layout, seed=5)
    n = torch.arange(1, 17, dtype=torch.float64)
    args["A"] = -n.repeat(8, 1)  # S4D-real initialisation
    dt = torch.exp(torch.empty(8).uniform_(math.log(1e-3), math.log(1e-1)))
    args["delta_bias"] = torch.log(torch.expm1(dt))  # softplus(bias) log-uniform in [1e-3, 0.1]
    ref_out, ref_grads = run(leaves(args), "loop")
    out, grads = run(leaves({k: v.float() if isinstance(v, torch.Tensor) else v for k, v in args.items()}), backend)
    for o, r in zip(out, ref_out):
        assert o.dtype == torch.float32
        assert rel_err(o, r) <= 1e-5
    for name, r in ref_grads.items():
        assert rel_err(grads[name], r) <= 1e-5, name


def long_strong_decay(dtype: torch.dtype, length: int = 65536) -> dict:
    """L = 65536 with delta * |A| up to 20 per step."""
    g = torch.Generator().manual_seed(11)
    return dict(
        u=torch.randn(1, 4, length, generator=g).to(dtype),
        delta=torch.rand(1, 4, length, generator=g).to(dtype),
        A=-20 * torch.rand(4, 4, generator=g).to(dtype),
        B=torch.randn(1, 4, length, generator=g).to(dtype),
        C=torch.randn(1, 4, length, generator=g).to(dtype),
        D=torch.ones(4, dtype=dtype),
        return_last_state=True,
    )


@pytest.mark.skipif("fused" not in FAST, reason="numba is not installed")
def test_long_strong_decay_reference_matches_loop() -> None:
    """The float64 fused scan (sequential, used as reference below) agrees with the oracle."""
    args = long_strong_decay(torch.float64, length=512)
    ref_out, ref_grads = run(leaves(args), "loop")
    out, grads = run(leaves(args), "fused")
    for o, r in zip(out, ref_out):
        torch.testing.assert_close(o, r, rtol=1e-10, atol=1e-10)
    for name, r in ref_grads.items():
        torch.testing.assert_close(grads[name], r, rtol=1e-9, atol=1e-9, msg=name)


@pytest.mark.skipif("fused" not in FAST, reason="numba is not installed")
@pytest.mark.parametrize("backend", FAST)
def test_long_strong_decay_float32(backend: str) -> None:
    """No overflow or NaN at L = 65536 with strong decays; matches the float64 reference."""
    ref_out, ref_grads = run(leaves(long_strong_decay(torch.float64)), "fused")
    out, grads = run(leaves(long_strong_decay(torch.float32)), backend)
    for o, r in zip(out, ref_out):
        assert torch.isfinite(o).all()
        assert rel_err(o, r) <= 1e-5
    for name, r in ref_grads.items():
        assert torch.isfinite(grads[name]).all(), name
        assert rel_err(grads[name], r) <= 1e-5, name


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("names", [("u",), ("A",), ("B", "delta"), ("C", "D"), ("z", "delta_bias"), ()])
def test_requires_grad_subsets(backend: str, names: tuple[str, ...]) -> None:
    args = make_inputs(2, 4, 20, 3, "groups2", seed=7)
    out = selective_scan_fn(**leaves(args, names), backend=backend)[0]
    ref = selective_scan_fn(**leaves(args, ()), backend="loop")[0]
    torch.testing.assert_close(out.detach(), ref, rtol=1e-10, atol=1e-10)
    if not names:
        assert not out.requires_grad
        return
    _, grads = run(leaves(args, names), backend)
    _, ref_grads = run(leaves(args, names), "loop")
    assert grads.keys() == ref_grads.keys() == set(names)
    for name in names:
        torch.testing.assert_close(grads[name], ref_grads[name], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("backend", FAST)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_low_precision_inputs_are_upcast(backend: str, dtype: torch.dtype) -> None:
    args = make_inputs(1, 4, 30, 4, "shared", dtype=dtype, seed=9)
    args["return_last_state"] = False
    lp = leaves(args)
    out = selective_scan_fn(**lp, backend=backend)
    assert out.dtype == dtype
    out.float().sum().backward()
    for name, v in lp.items():
        if isinstance(v, torch.Tensor):
            assert v.grad is not None and v.grad.dtype == dtype, name
    f32 = leaves({k: v.float() if isinstance(v, torch.Tensor) else v for k, v in args.items()})
    ref = selective_scan_fn(**f32, backend="loop")
    eps = torch.finfo(dtype).eps  # float32 results agree to ~1e-7; allow one rounding step
    torch.testing.assert_close(out.float(), ref.to(dtype).float(), rtol=eps, atol=eps)


@pytest.mark.parametrize("backend", FAST)
def test_nan_propagates(backend: str) -> None:
    """A NaN in A poisons its channel only (no clamp in a fast exp may swallow it)."""
    args = make_inputs(1, 2, 300, 4, "shared", (False,) * 5, dtype=torch.float32, seed=2)
    args["A"][0, 1] = float("nan")
    out = selective_scan_fn(**args, backend=backend)
    assert torch.isnan(out[0, 0]).all() and torch.isfinite(out[0, 1]).all()


@pytest.mark.parametrize("backend", FAST)
def test_non_contiguous_inputs(backend: str) -> None:
    args = make_inputs(2, 4, 16, 3, "shared", seed=13)
    args["u"] = args["u"].transpose(1, 2).contiguous().transpose(1, 2)
    args["B"] = args["B"][..., ::1].transpose(1, 2).contiguous().transpose(1, 2)
    assert not args["u"].is_contiguous()
    ref = selective_scan_fn(**args, backend="loop")
    out = selective_scan_fn(**args, backend=backend)
    torch.testing.assert_close(out[0], ref[0], rtol=1e-10, atol=1e-10)


def test_loop_oracle_by_hand() -> None:
    """Two steps, one channel, one state, worked out by hand."""
    u = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)
    delta = torch.tensor([[[0.5, 0.25]]], dtype=torch.float64)
    A = torch.tensor([[-2.0]], dtype=torch.float64)
    B = torch.tensor([[3.0]], dtype=torch.float64)
    C = torch.tensor([[5.0]], dtype=torch.float64)
    h1 = 0.5 * 3.0 * 1.0
    h2 = math.exp(-0.5) * h1 + 0.25 * 3.0 * 2.0
    out, last = selective_scan_fn(u, delta, A, B, C, D=torch.tensor([7.0], dtype=torch.float64),
                                  return_last_state=True, backend="loop")  # fmt: skip
    torch.testing.assert_close(out, torch.tensor([[[5 * h1 + 7.0, 5 * h2 + 14.0]]], dtype=torch.float64))
    torch.testing.assert_close(last, torch.tensor([[[h2]]], dtype=torch.float64))


def test_auto_selection_on_cpu(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(scan.ENV_BACKEND, raising=False)
    expected = "fused" if numba_available() else "torch"
    assert resolve_backend("auto", "cpu") == expected
    assert expected in available_backends("cpu")
    assert "cuda" not in available_backends("cpu")
    monkeypatch.setattr(scan, "_logged", set())
    args = make_inputs(1, 2, 5, 2, "shared", (False,) * 5, seed=1)
    with caplog.at_level(logging.DEBUG, logger="mambano.scan"):
        selective_scan_fn(**args)
        selective_scan_fn(**args)
    messages = [r.getMessage() for r in caplog.records if r.name == "mambano.scan"]
    assert len(messages) == 1 and repr(expected) in messages[0]


def test_env_variable_overrides_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(scan.ENV_BACKEND, "torch")
    assert resolve_backend("auto", "cpu") == "torch"
    assert resolve_backend("loop", "cpu") == "loop"  # explicit choices win
    monkeypatch.setenv(scan.ENV_BACKEND, "nonsense")
    with pytest.raises(ValueError, match=scan.ENV_BACKEND):
        resolve_backend("auto", "cpu")


def test_unknown_backend_raises() -> None:
    args = make_inputs(1, 2, 5, 2, "shared", (False,) * 5)
    with pytest.raises(ValueError, match="unknown scan backend"):
        selective_scan_fn(**args, backend="triton")


def test_cuda_backend_rejects_cpu_tensors() -> None:
    args = make_inputs(1, 2, 5, 2, "shared", (False,) * 5)
    with pytest.raises(ValueError, match="needs CUDA tensors"):
        selective_scan_fn(**args, backend="cuda")


def test_cuda_backend_reports_missing_mamba_ssm(monkeypatch: pytest.MonkeyPatch) -> None:
    from mambano_core.ops.scan import cuda

    monkeypatch.setattr(cuda, "_load", lambda: (None, "ImportError: No module named 'mamba_ssm'"))
    with pytest.raises(BackendUnavailableError, match="mamba-ssm.*No module named"):
        cuda.load_mamba_ssm_scan()
    assert not cuda.cuda_backend_available()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(B=torch.randn(3, 2)), "B has shape"),
        (dict(C=torch.randn(2, 3, 2, 5)), "not divisible"),
        (dict(delta=torch.randn(2, 4, 4)), "delta has shape"),
        (dict(D=torch.randn(3)), "D has shape"),
    ],
)
def test_shape_errors(change: dict, match: str) -> None:
    args = make_inputs(2, 4, 5, 2, "shared", (False,) * 5)
    args.update({k: v.double() for k, v in change.items()})
    with pytest.raises(ValueError, match=match):
        selective_scan_fn(**args, backend="torch")


@pytest.mark.skipif("fused" not in FAST, reason="numba is not installed")
def test_fused_keeps_numba_thread_setting() -> None:
    import numba

    before = numba.get_num_threads()
    selective_scan_fn(**make_inputs(1, 2, 5, 2, "shared"), backend="fused")
    assert numba.get_num_threads() == before


_THREADS_AND_FORK_SCRIPT = """
import multiprocessing, sys
import torch
from mambano_core.ops.scan import selective_scan_fn

def scan():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(2, 16, 300, generator=g, requires_grad=True)
    delta, A = torch.rand(2, 16, 300, generator=g), -torch.rand(16, 4, generator=g)
    B, C = torch.randn(2, 2, 4, 300, generator=g), torch.randn(2, 2, 4, 300, generator=g)
    out = selective_scan_fn(u, delta, A, B, C, delta_softplus=True, backend="fused")
    out.backward(torch.ones_like(out))
    return torch.cat([out.detach().flatten(), u.grad.flatten()]).numpy().tobytes()

def child(path):
    with open(path, "wb") as f:
        f.write(scan())

if __name__ == "__main__":
    parent = scan()
    print("torch threads", torch.get_num_threads())
    process = multiprocessing.get_context("fork").Process(target=child, args=(sys.argv[1],))
    process.start()
    process.join(timeout=400)  # returns at once if numba terminates the child
    with open(sys.argv[1], "rb") as f:
        same = f.read() == parent
    print("child exit", process.exitcode, "same", same)
"""


@pytest.mark.skipif("fused" not in FAST, reason="numba is not installed")
@pytest.mark.skipif("fork" not in __import__("multiprocessing").get_all_start_methods(), reason="no fork()")
def test_fused_keeps_torch_threads_and_survives_fork(tmp_path) -> None:
    """Starting numba's OpenMP pool must not raise PyTorch's thread count (it calls
    ``omp_set_num_threads``), and a child forked afterwards must get the parent's results (numba
    terminates a forked child at its first GNU OpenMP parallel kernel)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "threads_and_fork.py"
    script.write_text(_THREADS_AND_FORK_SCRIPT)
    (tmp_path / "child.bin").write_bytes(b"")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(root))
    env.pop("NUMBA_THREADING_LAYER", None)
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "child.bin")], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "torch threads 1" in result.stdout
    assert "child exit 0 same True" in result.stdout, result.stdout + result.stderr[-2000:]


@pytest.mark.skipif("fused" not in FAST, reason="numba is not installed")
def test_fused_softplus_is_accurate_in_float32() -> None:
    """The kernels' vectorised float32 softplus (exp and log1p polynomials) vs float64 PyTorch."""
    import numpy as np

    from mambano_core.ops.scan import _numba_kernels as nk

    raw = np.concatenate([np.linspace(-40, 40, 20001), [-1e-7, 0.0, 1e-7, 19.999, 20.0, 20.001]])
    out = np.empty(raw.size, np.float32)
    nk._delta_row(raw.astype(np.float32), np.float32(0.25), True, out)
    ref = torch.nn.functional.softplus(torch.from_numpy(raw.astype(np.float32).astype(np.float64) + 0.25))
    rel = np.abs(out - ref.numpy()) / ref.numpy()
    assert rel.max() < 1e-6
    plain = np.empty(raw.size, np.float32)
    nk._delta_row(raw.astype(np.float32), np.float32(0.25), False, plain)
    np.testing.assert_array_equal(plain, raw.astype(np.float32) + np.float32(0.25))


@pytest.mark.skipif("fused" not in FAST, reason="numba is not installed")
def test_compile_kernels_runs_both_forward_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """``make demo`` relies on it to compile the per-channel and the lane forward, and the backward."""
    from mambano_core.ops.scan import _numba_kernels as nk
    from mambano_core.ops.scan import _numba_lanes as lanes
    from mambano_core.ops.scan.fused import compile_kernels

    called = []
    for module, name in ((nk, "scan_fwd"), (lanes, "scan_fwd_lanes"), (nk, "scan_bwd")):
        kernel = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _k=kernel, _n=name: (called.append(_n), _k(*a))[1])
    assert compile_kernels() is True
    assert sorted(called) == ["scan_bwd", "scan_bwd", "scan_fwd", "scan_fwd_lanes"]


@pytest.mark.skipif("fused" not in FAST, reason="numba is not installed")
@pytest.mark.parametrize(("batch", "dim", "length", "dstate", "groups"), [(2, 40, 300, 5, 1), (1, 24, 257, 4, 2)])
def test_fused_lane_forward_is_bit_identical(batch: int, dim: int, length: int, dstate: int, groups: int) -> None:
    """The forward vectorised across channels gives the per-channel kernel's outputs, last states
    and backward checkpoints bit for bit (blocks of 32 + 8 channels, and of 12)."""
    from mambano_core.ops.scan import _numba_kernels as nk
    from mambano_core.ops.scan._numba_lanes import scan_fwd_lanes

    rng = np.random.default_rng(3)
    u, dt, z = (rng.standard_normal((batch, dim, length), dtype=np.float32) for _ in range(3))
    A = -np.exp(rng.standard_normal((dim, dstate), dtype=np.float32) * 0.5)
    B, C = (rng.standard_normal((batch, groups, dstate, length), dtype=np.float32) for _ in range(2))
    D, bias = rng.standard_normal(dim, dtype=np.float32), rng.standard_normal(dim, dtype=np.float32) * 0.1
    chunks = -(-length // 256)
    results = []
    for lanes in (False, True):
        out, last = np.empty_like(u), np.empty((batch, dim, dstate), np.float32)
        ckpt = np.full((batch, dim, chunks, dstate), np.nan, np.float32)
        args = (u, dt, A, B, C, D, z, True, bias, True, 256, True, out, ckpt, last)
        scan_fwd_lanes(*args, dim // groups) if lanes else nk.scan_fwd(*args)
        results.append((out, ckpt, last))
    for plain, vectorised in zip(*results):
        assert np.isfinite(plain).all()
        np.testing.assert_array_equal(vectorised, plain)
