"""The native fused FIR activations (``ops/native/fir.c``) against the banded-matrix path."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from mambano_core.ops import alias_free, banded, fir_native
from mambano_core.ops.alias_free import alias_free_silu, filtered_lrelu
from mambano_core.ops.native import threads

pytestmark = pytest.mark.skipif(fir_native.library() is None, reason="no C compiler: native kernels unavailable")


def _run(fn, native: bool, monkeypatch, x, *args):
    """Output and gradients (x, then tensor args) of ``fn`` for a fixed random upstream gradient."""
    with monkeypatch.context() as m:
        if not native:
            m.setattr(fir_native, "native_eligible", lambda t: False)
        x = x.detach().clone().requires_grad_()
        args = [a.detach().clone().requires_grad_() if isinstance(a, torch.Tensor) else a for a in args]
        y = fn(x, *args)
        upstream = torch.randn(y.shape, generator=torch.Generator().manual_seed(7))
        (y * upstream).sum().backward()
        return [y.detach(), x.grad] + [a.grad for a in args if isinstance(a, torch.Tensor)]


def _assert_rounding_close(got, want, what):
    scale = want.abs().max().item()
    err = (got - want).abs().max().item()
    assert got.shape == want.shape, what
    assert err <= 2e-6 * scale, f"{what}: max abs diff {err:.3g} vs scale {scale:.3g}"


@pytest.mark.parametrize(
    ("shape", "scale"),
    [
        ((2, 3, 16, 16), 1.0),
        ((2, 3, 24, 40), 1.0),  # H != W
        ((1, 2, 33, 17), 1.0),  # odd sizes
        ((2, 3, 64, 64), 1.0),  # blocked banded path (> DENSE_LIMIT)
        ((2, 3, 24, 40), 0.5),
        ((2, 2, 66, 34), 0.5),
        ((2, 3, 16, 12), 2.0),
        ((1, 2, 9, 13), 2.0),
    ],
)
def test_native_lrelu_matches_banded(monkeypatch, shape, scale):
    g = torch.Generator().manual_seed(0)
    x, bias = torch.randn(shape, generator=g), torch.randn(shape[1], generator=g)
    want = _run(filtered_lrelu, False, monkeypatch, x, bias, scale)
    got = _run(filtered_lrelu, True, monkeypatch, x, bias, scale)
    for name, a, b in zip(("output", "grad x", "grad bias"), got, want):
        _assert_rounding_close(a, b, name)


@pytest.mark.parametrize("shape", [(2, 3, 16, 16), (2, 3, 24, 40), (1, 2, 33, 17), (1, 2, 40, 72)])
def test_native_silu_gate_matches_banded(monkeypatch, shape):
    x = 3 * torch.randn(shape, generator=torch.Generator().manual_seed(1))  # saturates the SiLU too
    want = _run(alias_free_silu, False, monkeypatch, x)
    got = _run(alias_free_silu, True, monkeypatch, x)
    for name, a, b in zip(("output", "grad x"), got, want):
        _assert_rounding_close(a, b, name)


def test_silu_gate_of_a_channels_last_view_matches(monkeypatch):
    """SS2D's gate input is a permuted (channels-last) view: the native gate gives the banded path's values."""
    base = 3 * torch.randn(2, 12, 10, 8, generator=torch.Generator().manual_seed(2))  # (B, H, W, 2C)
    view = base[..., 4:].permute(0, 3, 1, 2)  # (B, C, H, W), not contiguous
    want = _run(alias_free_silu, False, monkeypatch, view.contiguous())
    got = _run(alias_free_silu, True, monkeypatch, view)
    for name, a, b in zip(("output", "grad x"), got, want):
        _assert_rounding_close(a, b, name)


def test_native_path_is_taken_only_for_float32_cpu(monkeypatch):
    calls = []
    real = fir_native.fused_activation
    monkeypatch.setattr(fir_native, "fused_activation", lambda *a, **k: calls.append(1) or real(*a, **k))
    x = torch.randn(1, 2, 8, 8)
    filtered_lrelu(x, torch.zeros(2))
    alias_free_silu(x)
    assert len(calls) == 2
    filtered_lrelu(x.double(), torch.zeros(2, dtype=torch.float64))  # gradchecks keep the banded path
    alias_free_silu(x.double())
    assert len(calls) == 2


def test_bias_without_grad_and_no_bias(monkeypatch):
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    bias = torch.randn(3)  # no grad wanted for the bias
    y = filtered_lrelu(x, bias, 0.5)
    y.sum().backward()
    with monkeypatch.context() as m:
        m.setattr(fir_native, "native_eligible", lambda t: False)
        x2 = x.detach().clone().requires_grad_()
        filtered_lrelu(x2, bias, 0.5).sum().backward()
        want_nobias = filtered_lrelu(x.detach(), None)
    _assert_rounding_close(x.grad, x2.grad, "grad x")
    _assert_rounding_close(filtered_lrelu(x.detach(), None), want_nobias, "no bias")
    with torch.no_grad():
        assert not filtered_lrelu(x, bias).requires_grad


@pytest.mark.parametrize("fn", ["lrelu", "silu"])
def test_native_results_do_not_depend_on_thread_count(fn):
    x = torch.randn(5, 3, 20, 28, generator=torch.Generator().manual_seed(2))
    bias = torch.randn(3)
    results = []
    before = torch.get_num_threads()
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            xi = x.clone().requires_grad_()
            bi = bias.clone().requires_grad_()
            y = filtered_lrelu(xi, bi, 0.5) if fn == "lrelu" else alias_free_silu(xi)
            y.backward(torch.ones_like(y) + torch.arange(y.numel()).view(y.shape) % 3)
            results.append((y.detach(), xi.grad, bi.grad if fn == "lrelu" else None))
    finally:
        torch.set_num_threads(before)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert a is None or torch.equal(a, b)


def test_fallback_without_native_library(monkeypatch):
    """With no library (no compiler, MAMBANO_NATIVE=0) the banded path runs and gives the same values."""
    x, bias = torch.randn(2, 3, 16, 24), torch.randn(3)
    native = filtered_lrelu(x, bias), alias_free_silu(x)
    monkeypatch.setattr(fir_native, "library", lambda: None)
    calls = []
    real = banded._forward
    monkeypatch.setattr(banded, "_forward", lambda *a: calls.append(1) or real(*a))
    fallback = filtered_lrelu(x, bias), alias_free_silu(x)
    assert calls  # the banded path ran
    for a, b in zip(native, fallback):
        _assert_rounding_close(a, b, "fallback")


def test_native_disabled_by_environment():
    code = (
        "import torch\n"
        "from mambano_core.ops import fir_native\n"
        "from mambano_core.ops.alias_free import filtered_lrelu\n"
        "assert fir_native.library() is None\n"
        "x = torch.randn(1, 2, 8, 8)\n"
        "assert not fir_native.native_eligible(x)\n"
        "print(float(filtered_lrelu(x, torch.zeros(2)).abs().sum()) > 0)\n"
    )
    env = dict(os.environ, MAMBANO_NATIVE="0")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"


def test_band_form_reproduces_the_matrices():
    """Band form (s0, w) of a strided filter, its adjoint and a matrix map equals the dense matrix."""
    passes = alias_free._lrelu_passes(*alias_free.lrelu_plans(20, 12, 0.5, alias_free.FilterConfig()), 1.3)
    maps = list(passes) + [p.adjoint() for p in passes] + list(alias_free._gate_passes(7, 10, 2))
    for fmap in maps:
        dense = fir_native.dense_matrix(fmap)
        s0, w = fir_native.band_form(fmap)
        rebuilt = torch.zeros_like(dense)
        for j in range(fmap.m):
            rebuilt[s0[j] : s0[j] + w.shape[1], j] = w[j].double()
        assert s0.min() >= 0 and s0.max() + w.shape[1] <= fmap.n
        torch.testing.assert_close(rebuilt, dense, atol=1e-7, rtol=1e-6)
    up_w = passes[0]
    assert fir_native.band_form(up_w)[1].shape[1] == len(up_w.taps) // 2  # polyphase: taps / up


def test_forked_child_runs_one_thread():
    threads.num_threads()  # registers the fork hook when more than one thread is in use
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        threads.num_threads()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            os.close(read)
            y = alias_free_silu(torch.randn(2, 2, 8, 8))
            os.write(write, f"{threads.num_threads()} {int(torch.isfinite(y).all())}".encode())
            os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        message = os.read(read, 100).decode()
        os.close(read)
    finally:
        torch.set_num_threads(before)
    assert status == 0 and message == "1 1"
