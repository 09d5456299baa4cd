"""The native cross selective scan (ops/native/scan.c) against the generic SS2D path and the loop oracle."""

from __future__ import annotations

import multiprocessing

import pytest
import torch

from mambano_core.layers.ss2d import SS2D
from mambano_core.ops import native
from mambano_core.ops.scan import cross

pytestmark = pytest.mark.skipif(not cross.native_cross_scan_available(), reason="no C compiler")


def _ss2d(d_model: int, directions: int, backend: str = "auto", seed: int = 0, bias_shift: float = 0.0) -> SS2D:
    torch.manual_seed(seed)
    m = SS2D(d_model, d_state=16, directions=directions, scan_backend=backend)
    with torch.no_grad():  # move off the initial values so that every parameter matters
        m.A_log.add_(0.3 * torch.randn_like(m.A_log))
        m.D.add_(torch.randn_like(m.D))
        m.dt_proj_bias.add_(torch.randn_like(m.dt_proj_bias) + bias_shift)
    return m


def _grads(m: SS2D, x: torch.Tensor, fn) -> tuple[torch.Tensor, list[torch.Tensor]]:
    x = x.clone().requires_grad_()
    y = fn(m, x)
    weights = torch.linspace(-1, 1, y.numel()).reshape(y.shape)
    params = [x, m.A_log, m.D, m.dt_proj_bias, m.x_proj_weight, m.dt_proj_weight]
    return y.detach(), list(torch.autograd.grad((y * weights).sum(), params))


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / a.abs().max().clamp_min(1e-30)).item()


def native_scan(m: SS2D, x: torch.Tensor) -> torch.Tensor:
    assert m.uses_native_scan(x)
    return m.scan_channels_last(x)


def generic_scan(m: SS2D, x: torch.Tensor) -> torch.Tensor:
    return m.scan(x).permute(0, 2, 3, 1)


@pytest.mark.parametrize(
    ("d_model", "height", "width", "directions"),
    [(4, 6, 10, 4), (8, 16, 16, 2), (4, 7, 5, 1), (4, 20, 24, 4), (16, 9, 13, 4), (3, 20, 24, 4), (5, 7, 9, 2),
     (40, 6, 5, 4)],
)
def test_native_matches_the_loop_oracle(d_model, height, width, directions):
    """Forward and every gradient equal the loop backend's (autograd through the plain
    recurrence) to float32 rounding: non-square grids, 1/2/4 directions, several time chunks
    (20 x 24 = 480 steps) and a last, partial chunk; channels in lane blocks of 8 with the
    projection formed in the kernel (d_inner 8, 16, 32, 80), and one channel at a time with one
    product of the folded weight (d_inner 6, 10)."""
    m = _ss2d(d_model, directions)
    oracle = _ss2d(d_model, directions, backend="loop")
    x = torch.randn(2, m.d_inner, height, width)
    y_ref, g_ref = _grads(oracle, x, generic_scan)
    y, g = _grads(m, x, native_scan)
    assert _rel(y_ref, y) < 1e-5
    for a, b in zip(g_ref, g):
        assert _rel(a, b) < 2e-5


def test_native_matches_the_fused_numba_path_in_a_model_step():
    """Through the whole SS2D block (conv, alias-free activations, gate, norm), native and the
    generic fused path agree."""
    m = _ss2d(8, 4)
    x = torch.randn(2, 12, 12, 8)
    y_native = m(x)
    with torch.no_grad():
        y_generic = m.out_proj(
            m.out_norm(generic_scan(m, m.act(m.conv2d(m.in_proj(x).chunk(2, -1)[0].permute(0, 3, 1, 2)))))
            * m.gate(m.in_proj(x).chunk(2, -1)[1].permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        )
    assert _rel(y_generic, y_native.detach()) < 1e-5


def test_softplus_branches_and_strong_decay():
    """Step-size biases far above 20 (softplus(x) = x there) and far below (tiny steps), and
    decays exp(delta A) down to underflow, still match the oracle."""
    for shift in (30.0, -12.0):
        m = _ss2d(4, 4, bias_shift=shift)
        oracle = _ss2d(4, 4, backend="loop", bias_shift=shift)
        x = torch.randn(1, m.d_inner, 8, 8)
        y_ref, g_ref = _grads(oracle, x, generic_scan)
        y, g = _grads(m, x, native_scan)
        assert torch.isfinite(y).all()
        assert _rel(y_ref, y) < 1e-5
        for a, b in zip(g_ref, g):
            assert _rel(a, b) < 1e-4


def test_bit_identical_across_thread_counts_and_with_or_without_grad():
    m = _ss2d(8, 4)
    x = torch.randn(3, m.d_inner, 16, 12)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        y1, g1 = _grads(m, x, native_scan)
        torch.set_num_threads(2)
        y2, g2 = _grads(m, x, native_scan)
    finally:
        torch.set_num_threads(previous)
    with torch.no_grad():
        y3 = native_scan(m, x)
    assert torch.equal(y1, y2) and torch.equal(y1, y3)
    assert all(torch.equal(a, b) for a, b in zip(g1, g2))


def test_float64_and_forced_backends_take_the_generic_path(monkeypatch):
    m = _ss2d(4, 4)
    assert not m.uses_native_scan(torch.randn(1, 8, 4, 4, dtype=torch.float64))
    assert not _ss2d(4, 4, backend="torch").uses_native_scan(torch.randn(1, 8, 4, 4))
    monkeypatch.setenv("MAMBANO_SCAN_BACKEND", "loop")
    assert not m.uses_native_scan(torch.randn(1, 8, 4, 4))


def test_without_a_compiler_the_generic_path_runs(monkeypatch):
    """No compiler (load returns None): SS2D falls back and gives the same result."""
    m = _ss2d(4, 4)
    x = torch.randn(2, 5, 6, 4)
    with torch.no_grad():
        expected = m(x)
        monkeypatch.setattr(native, "load", lambda name: None)
        monkeypatch.setattr(cross.native, "load", lambda name: None)
        assert not m.uses_native_scan(torch.randn(1, 8, 5, 6))
        assert _rel(expected, m(x)) < 1e-5


def test_shape_mismatch_is_refused():
    u = torch.randn(1, 12, 8)
    A, D, bias = -torch.ones(4, 8, 16), torch.ones(4, 8), torch.zeros(4, 8)
    x_proj, dt_proj = torch.randn(4, 2 + 32, 8), torch.randn(4, 8, 2)
    cross.cross_selective_scan(u, x_proj, dt_proj, A, D, bias, 3, 4)  # the shapes that fit
    with pytest.raises(ValueError, match="do not match"):
        cross.cross_selective_scan(u, torch.randn(4, 1 + 32, 8), dt_proj, A, D, bias, 3, 4)
    with pytest.raises(ValueError, match="do not match"):
        cross.cross_selective_scan(u, x_proj, torch.randn(4, 8, 3), A, D, bias, 3, 4)
    with pytest.raises(ValueError, match="do not match"):
        cross.cross_selective_scan(u, x_proj, dt_proj, A, D, bias, 4, 4)
    with pytest.raises(ValueError, match="CPU float32"):
        cross.cross_selective_scan(u, x_proj.double(), dt_proj, A, D, bias, 3, 4)


@pytest.mark.parametrize(
    ("d_model", "dt_rank", "in_kernel"), [(8, 9, True), (64, None, True), (5, 3, False), (8, 2, False)]
)
def test_low_rank_projection_matches_the_oracle(monkeypatch, d_model, dt_rank, in_kernel):
    """The kernel forms the step sizes in Mamba's low-rank form (x_proj's r rows padded to a
    block of 8, then dt_proj): a rank above one block (9 -> 16 rows, 7 of them padding) and
    MambaNO's level-2 width (d_inner 128, rank 4) agree with the loop oracle, which applies
    the folded d x d weight. So does the product of the folded weight, whose gradient is
    chained back to x_proj and dt_proj by hand, at a rank above 1: one channel at a time
    (d_inner 10) and, forced, in lane blocks (d_inner 16)."""
    if not in_kernel:
        monkeypatch.setattr(cross, "_fused_projection", lambda dim, dstate: False)
    torch.manual_seed(1)
    m = SS2D(d_model, d_state=16, dt_rank=dt_rank)
    oracle = SS2D(d_model, d_state=16, dt_rank=dt_rank, scan_backend="loop")
    oracle.load_state_dict(m.state_dict())
    x = torch.randn(2, m.d_inner, 5, 4)
    assert cross._fused_projection(m.d_inner, 16) == in_kernel and m.uses_native_scan(x)
    y_ref, g_ref = _grads(oracle, x, generic_scan)
    y, g = _grads(m, x, native_scan)
    assert _rel(y_ref, y) < 1e-5
    for a, b in zip(g_ref, g):
        assert _rel(a, b) < 2e-5


def _child_scan(queue) -> None:
    m = _ss2d(4, 4)
    with torch.no_grad():
        queue.put(native_scan(m, torch.ones(1, 8, 6, 6)).sum().item())


def test_runs_in_a_forked_child_after_the_parent_used_openmp():
    """GNU OpenMP's pool does not survive fork(); a forked child runs the kernel on one thread."""
    m = _ss2d(4, 4)
    with torch.no_grad():
        expected = native_scan(m, torch.ones(1, 8, 6, 6)).sum().item()  # parent's pool is up
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child_scan, args=(queue,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 0
    assert queue.get(timeout=5) == pytest.approx(expected, rel=1e-6)


def test_work_split_per_batch_or_per_direction_gives_the_same_bits(monkeypatch):
    """Whole batch elements per unit (directions summed in place) and (batch, direction) units
    with a buffer sum the directions in the same order: identical outputs and gradients."""
    m = _ss2d(8, 4)
    x = torch.randn(4, m.d_inner, 12, 10)
    results = []
    for per_batch in (True, False):
        monkeypatch.setattr(cross, "_per_batch", lambda batch, directions, threads, v=per_batch: v)
        results.append(_grads(m, x, native_scan))
    (y1, g1), (y2, g2) = results
    assert torch.equal(y1, y2)
    assert all(torch.equal(a, b) for a, b in zip(g1, g2))


def test_the_kernels_softplus_and_sigmoid_against_float64():
    """The lane blocks' softplus (max(x, 0) + log1p(exp(-|x|)) with a fitted log1p, x above 20
    passed through, as Mamba) and sigmoid, against float64 over -90 .. 30: relative error at most
    3e-7 where the result is above 1e-30 (exp's floor), exact where x > 20; NaN stays NaN."""
    import ctypes

    lib = cross._lib()
    lib.softplus_eval.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64]
    x = torch.cat([torch.linspace(-90, 30, 120_000), torch.tensor([0.0, -0.0, 20.0, 20.000002, 1e-7, -1e-7, 0.5, -0.5])])
    x = torch.cat([x, torch.full((8,), float("nan")), torch.zeros((-x.numel()) % 8)])
    sp, sig = torch.empty_like(x), torch.empty_like(x)
    lib.softplus_eval(x.data_ptr(), sp.data_ptr(), sig.data_ptr(), x.numel())
    xd = x.double()
    sp_ref = torch.where(xd > 20, xd, torch.nn.functional.softplus(xd))
    sig_ref = torch.where(xd > 20, torch.ones_like(xd), torch.sigmoid(xd))
    for got, ref in ((sp, sp_ref), (sig, sig_ref)):
        assert torch.equal(got.isnan(), x.isnan())
        keep = ref > 1e-30
        rel = ((got.double() - ref).abs() / ref)[keep]
        assert rel.max().item() <= 3e-7
    assert torch.equal(sp[x > 20], x[x > 20])
