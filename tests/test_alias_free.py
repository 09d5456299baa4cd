"""Checks of the alias-free resampling and activations (CNO / StyleGAN3 filters used by MambaNO)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from mambano_core.layers.activations import AliasFreeLReLU, AliasFreeSiLU, PointwiseLReLU, silu_gate
from mambano_core.ops import alias_free, banded
from mambano_core.ops.alias_free import alias_free_silu, clear_filter_caches, filtered_lrelu
from mambano_core.ops.filters import FilterConfig, axis_plan, design_lowpass_filter
from mambano_core.ops.upfirdn import upfirdn2d

F64 = torch.float64


def _naive_upfirdn2d(x, fh, fw, up, down, pad):
    """Zero-stuff, pad, 2-D convolution with the outer-product kernel, decimate (StyleGAN3 ref)."""
    b, c, h, w = x.shape
    z = x.new_zeros(b, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    z = F.pad(z, [max(pad[2], 0), max(pad[3], 0), max(pad[0], 0), max(pad[1], 0)])
    crop_h = slice(max(-pad[0], 0), z.shape[2] - max(-pad[1], 0))
    z = z[:, :, crop_h, max(-pad[2], 0) : z.shape[3] - max(-pad[3], 0)]
    kernel = (torch.outer(fh, fw) * up * up).flip(0, 1)[None, None].repeat(c, 1, 1, 1)
    return F.conv2d(z, kernel, groups=c)[:, :, ::down, ::down]


def _reference_lrelu(x, bias, scale):
    """StyleGAN3's ``_filtered_lrelu_ref`` pipeline on top of the reference ``upfirdn2d``."""
    ph = axis_plan(x.shape[2], int(x.shape[2] * scale))
    pw = axis_plan(x.shape[3], int(x.shape[3] * scale))
    t = lambda f: torch.tensor(f, dtype=x.dtype)  # noqa: E731
    y = x + bias[None, :, None, None]
    padding = (ph.pad_lo, ph.pad_hi, pw.pad_lo, pw.pad_hi)
    y = upfirdn2d(y, t(ph.up_filter), t(pw.up_filter), ph.up, 1, padding)
    y = F.leaky_relu(y, 0.2) * math.sqrt(2.0)
    return upfirdn2d(y, t(ph.down_filter), t(pw.down_filter), 1, ph.down)


# ------------------------------------------------------------------------- filter design


@pytest.mark.parametrize(
    ("size_in", "size_out", "up", "down", "taps", "pads"),
    [
        (64, 64, 2, 2, (12, 12), (11, 10)),
        (64, 32, 2, 4, (12, 24), (16, 15)),
        (32, 64, 4, 2, (24, 12), (18, 15)),
    ],
)
def test_plans_follow_cno(size_in, size_out, up, down, taps, pads):
    plan = axis_plan(size_in, size_out)
    assert (plan.up, plan.down) == (up, down)
    assert (len(plan.up_filter), len(plan.down_filter)) == taps
    assert (plan.pad_lo, plan.pad_hi) == pads
    rate = max(size_in, size_out) * 2  # the nonlinearity runs at twice the finer grid
    for size, taps_, got in ((size_in, taps[0], plan.up_filter), (size_out, taps[1], plan.down_filter)):
        cutoff = size / 2.0001
        want = scipy.signal.firwin(taps_, cutoff, width=2 * (0.8 * size - cutoff), fs=rate)
        np.testing.assert_allclose(got, want, atol=1e-15)
        assert abs(sum(got) - 1.0) < 1e-12 and np.allclose(got, got[::-1])


def test_identity_filter_and_invalid_configs():
    assert design_lowpass_filter(1, 1.0, 1.0, 4.0).tolist() == [1.0]
    plan = axis_plan(16, 16, FilterConfig(lrelu_upsampling=1))
    assert (plan.up, plan.down, plan.up_filter, plan.down_filter) == (1, 1, (1.0,), (1.0,))
    with pytest.raises(ValueError):
        FilterConfig(cutoff_den=1.5)
    with pytest.raises(ValueError):
        axis_plan(12, 8)


# ------------------------------------------------------------------ resampling kernels


@pytest.mark.parametrize(
    ("up", "down", "taps", "pad", "h", "w"),
    [
        (2, 2, 12, (11, 10, 11, 10), 16, 20),
        (2, 1, 12, (16, 15, 3, -2), 9, 13),
        (4, 1, 24, (18, 15, 18, 15), 8, 8),
        (1, 3, 5, (2, 2, -1, 3), 17, 11),
        (3, 2, 9, (0, 0, 5, 5), 7, 6),
    ],
)
def test_upfirdn2d_matches_naive_reference(up, down, taps, pad, h, w):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, h, w, dtype=F64, generator=g)
    fh = torch.rand(taps, dtype=F64, generator=g)  # asymmetric filters: checks the orientation
    fw = torch.rand(taps, dtype=F64, generator=g)
    want = _naive_upfirdn2d(x, fh, fw, up, down, pad)
    torch.testing.assert_close(upfirdn2d(x, fh, fw, up, down, pad), want)


@pytest.mark.parametrize(("budget", "dense_limit"), [(16, 0), (40, 0), (48, 24), (10_000, 10_000)])
@pytest.mark.parametrize(
    ("h", "w", "scale"), [(32, 48, 1.0), (40, 24, 0.5), (24, 16, 2.0), (104, 8, 1.0)]
)
def test_banded_activation_matches_reference(monkeypatch, budget, dense_limit, h, w, scale):
    """The fast banded-matrix path equals the reference pipeline, dense or blocked, in chunks."""
    monkeypatch.setattr(banded, "WINDOW_BUDGET", budget)
    monkeypatch.setattr(banded, "DENSE_LIMIT", dense_limit)
    monkeypatch.setattr(alias_free, "CPU_CHUNK_BYTES", 1 << 14)  # several chunks
    g = torch.Generator().manual_seed(1)
    x, bias = torch.randn(2, 3, h, w, dtype=F64, generator=g), torch.randn(3, dtype=F64, generator=g)
    got = filtered_lrelu(x, bias, scale)
    assert got.shape == (2, 3, int(h * scale), int(w * scale))
    torch.testing.assert_close(got, _reference_lrelu(x, bias, scale))


@pytest.mark.parametrize(("budget", "dense_limit"), [(16, 0), (10_000, 10_000)])
def test_banded_passes_have_exact_adjoint_gradients(monkeypatch, budget, dense_limit):
    """The custom backward (the adjoint map, blocked the same way) is the exact gradient."""
    monkeypatch.setattr(banded, "WINDOW_BUDGET", budget)
    monkeypatch.setattr(banded, "DENSE_LIMIT", dense_limit)
    plan = axis_plan(20, 10)
    up = banded.StridedFIR.upsample(plan.up_filter, plan.up, plan.pad_lo, plan.pad_hi, 20)
    down = banded.StridedFIR.downsample(plan.down_filter, plan.down, up.m, gain=1.3)
    for fir in (up, down):
        x = torch.randn(1, 2, fir.n, dtype=F64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda v: banded.apply_last(v, fir), (x,))
        rows = torch.randn(1, fir.n, 2, dtype=F64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda v: banded.apply_rows(v, fir), (rows,))
    x = torch.randn(1, 1, down.n, dtype=F64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda v: banded.apply_last(v, down) ** 2, (x,))


@pytest.mark.parametrize(("budget", "dense_limit"), [(16, 0), (10_000, 10_000)])
def test_activation_is_differentiable_and_gradcheck(monkeypatch, budget, dense_limit):
    monkeypatch.setattr(banded, "WINDOW_BUDGET", budget)
    monkeypatch.setattr(banded, "DENSE_LIMIT", dense_limit)
    act = AliasFreeLReLU(2, scale=0.5).double()
    x = torch.randn(1, 2, 8, 8, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: act(v), (x,))
    act(x).sum().backward()
    assert act.bias.grad is not None and act.bias.grad.abs().sum() > 0
    z = torch.randn(1, 2, 6, 10, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(alias_free_silu, (z,))


# ---------------------------------------------------------- band-limited behaviour


def _smooth_field(n: int) -> torch.Tensor:
    """A positive, low-frequency field sampled at cell centres (the symmetric interpretation)."""
    t = (torch.arange(n, dtype=F64) + 0.5) / n
    along_w = torch.cos(2 * math.pi * 3 * t)[None, :]
    along_h = torch.sin(2 * math.pi * 2 * t + 0.3)[:, None]
    return 2.0 + 0.5 * along_w * along_h


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0])
def test_linear_regime_passes_band_limited_input(scale):
    """Where LReLU is linear the activation is sqrt(2) x the input resampled to the new grid."""
    n = 64
    y = filtered_lrelu(_smooth_field(n)[None, None], None, scale)[0, 0]
    want = math.sqrt(2.0) * _smooth_field(int(n * scale))
    m = int(8 * max(scale, 0.5))  # zero padding at the border (as in CNO) bends the first samples
    err = (y - want)[m:-m, m:-m].abs().max().item()
    assert err < 5e-3 * want.abs().max().item(), err


def _alias_fraction(row: torch.Tensor, f: float, n: int, margin: int = 16) -> float:
    """Share of spectral energy away from DC and from every harmonic k f below Nyquist.

    Harmonics above Nyquist can only appear (at |k f - m n|) by folding, so this is the
    aliased energy; a Kaiser(14) window on the interior keeps window leakage below 1e-9.
    """
    seg = row[margin:-margin]
    seg = (seg - seg.mean()) * torch.kaiser_window(seg.numel(), periodic=False, beta=14.0, dtype=F64)
    power = torch.fft.rfft(seg, n=16384).abs() ** 2
    freqs = torch.fft.rfftfreq(16384, d=1.0 / n, dtype=F64)
    delta = 6.0 * n / seg.numel()  # beyond the window's main lobe
    keep = torch.ones_like(freqs, dtype=torch.bool)
    for k in range(int((n / 2 + delta) / f) + 1):
        keep &= (freqs - k * f).abs() > delta
    return (power[keep].sum() / power.sum()).item()


@pytest.mark.parametrize("offset", [0.0, 0.3])
@pytest.mark.parametrize("axis", ["w", "h"])
def test_aliasing_is_suppressed(offset, axis):
    """Aliased energy of the filtered LReLU is >= 10x below a pointwise LReLU's.

    The fundamental f = n / 6.5 (0.154 n) lies inside CNO's passband (filters pass up to 0.2 n
    and stop from 0.8 n), so the input is band-limited in the sense the filters assume; its
    harmonics from 4 f upward exceed Nyquist, and the first folds |n - k f| fall half-way between
    legitimate harmonics. (Near Nyquist, f > 0.35 n, CNO's filters with half_width_mult 0.8 are
    transparent up to 0.8 n and both variants alias alike.)
    """
    n, rows = 256, 16
    f = n / 6.5
    t = (torch.arange(n, dtype=F64) + 0.5) / n
    x = (torch.cos(2 * math.pi * f * t) + offset).expand(rows, n)
    x = (x if axis == "w" else x.t()).contiguous()[None, None]
    plain = F.leaky_relu(x, 0.2) * math.sqrt(2.0)
    filtered = filtered_lrelu(x, None, 1.0)
    pick = (lambda y: y[0, 0, rows // 2]) if axis == "w" else (lambda y: y[0, 0, :, rows // 2])
    a_plain, a_filtered = _alias_fraction(pick(plain), f, n), _alias_fraction(pick(filtered), f, n)
    ratio = a_plain / a_filtered
    print(
        f"\naliased energy ({axis}, offset {offset}): plain {a_plain:.2e}, "
        f"alias-free {a_filtered:.2e}, ratio {ratio:.0f}"
    )
    assert a_plain > 1e-4  # the measurement sees the pointwise LReLU's aliasing
    assert ratio >= 10.0


# --------------------------------------------------------- any resolution, cached filters


def test_filters_are_cached_per_size_and_one_module_runs_everywhere():
    clear_filter_caches()
    act = AliasFreeLReLU(3)
    down = AliasFreeLReLU(3, scale=0.5)
    for n in (32, 64, 96, 128):
        assert act(torch.randn(1, 3, n, n)).shape == (1, 3, n, n)
        assert down(torch.randn(1, 3, n, n + 8)).shape == (1, 3, n // 2, n // 2 + 4)
    misses = axis_plan.cache_info().misses
    matrices = banded.fir_matrix.cache_info().misses
    for n in (32, 64, 96, 128):  # second pass: everything comes from the caches
        act(torch.randn(2, 3, n, n))
        down(torch.randn(2, 3, n, n + 8))
    assert axis_plan.cache_info().misses == misses
    assert banded.fir_matrix.cache_info().misses == matrices
    assert misses >= 4  # one plan per size at least
    fir = banded.StridedFIR.upsample(axis_plan(32, 32).up_filter, 2, 11, 10, 32)
    key = (fir, torch.device("cpu"), torch.float32, banded.WINDOW_BUDGET, banded.DENSE_LIMIT)
    assert banded.fir_matrix(*key)[0] is banded.fir_matrix(*key)[0]


def test_filters_built_in_inference_mode_serve_training():
    clear_filter_caches()
    act = AliasFreeLReLU(2)
    with torch.inference_mode():
        act(torch.randn(1, 2, 16, 16))
    x = torch.randn(1, 2, 16, 16, requires_grad=True)
    act(x).sum().backward()
    assert x.grad is not None


def test_odd_resampled_size_is_rejected():
    with pytest.raises(ValueError, match="not a positive integer"):
        filtered_lrelu(torch.randn(1, 1, 15, 16), None, 0.5)


def test_silu_gate_shape_and_smooth_limit():
    z = _smooth_field(32)[None, None].expand(2, 3, 32, 32)
    out = AliasFreeSiLU()(z)
    assert out.shape == z.shape
    inner = (out - F.silu(z))[..., 4:-4, 4:-4].abs().max().item()
    assert inner < 2e-2  # a smooth input: the gate is close to the pointwise SiLU


def _reference_silu_gate(x: torch.Tensor, oversampling: int = 2) -> torch.Tensor:
    """The authors' gate: ``F.interpolate`` bicubic (antialiased) up, SiLU, back down."""
    batch, channels, height, width = x.shape
    images = x.reshape(batch * channels, 1, height, width)
    fine = F.interpolate(images, scale_factor=oversampling, mode="bicubic", antialias=True)
    out = F.interpolate(F.silu(fine), size=(height, width), mode="bicubic", antialias=True)
    return out.view(batch, channels, height, width)


@pytest.mark.parametrize(("budget", "dense_limit"), [(12, 0), (48, 16), (10_000, 10_000)])
@pytest.mark.parametrize(("h", "w", "oversampling"), [(16, 24, 2), (40, 8, 2), (12, 12, 3)])
def test_silu_gate_equals_interpolate_pipeline(monkeypatch, budget, dense_limit, h, w, oversampling):
    """The banded-matrix gate is F.interpolate's map, borders included, dense or blocked."""
    monkeypatch.setattr(banded, "WINDOW_BUDGET", budget)
    monkeypatch.setattr(banded, "DENSE_LIMIT", dense_limit)
    monkeypatch.setattr(alias_free, "CPU_CHUNK_BYTES", 1 << 12)  # several chunks
    x = torch.randn(2, 3, h, w, dtype=F64, generator=torch.Generator().manual_seed(3))
    got = alias_free_silu(x, oversampling)
    torch.testing.assert_close(got, _reference_silu_gate(x, oversampling), rtol=0, atol=1e-12)
    passes = alias_free._gate_passes(h, w, oversampling)
    blocked = [banded.fir_matrix(p, x.device, x.dtype, budget, dense_limit)[1] for p in passes]
    if dense_limit == 0:
        assert any(b is not None and len(b) > 1 for b in blocked)  # the blocked path is exercised


def test_matrix_map_blocks_have_exact_adjoint_gradients(monkeypatch):
    monkeypatch.setattr(banded, "WINDOW_BUDGET", 10)
    monkeypatch.setattr(banded, "DENSE_LIMIT", 0)
    down = banded.MatrixMap(alias_free.interpolation_matrix, (18, 9), 18, 9)
    x = torch.randn(2, down.n, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: banded.apply_last(v, down), (x,))
    rows = torch.randn(down.n, 3, dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: banded.apply_rows(v, down), (rows,))


# ------------------------------------------- pointwise counterparts (MambaNO's ablation)


@pytest.mark.parametrize("scale", [1.0, 0.5, 2.0])
def test_pointwise_lrelu_is_the_same_lrelu_on_the_grid(scale):
    """Same slope, gain and learnable bias, applied pointwise; the grid changes by 2x2 means
    (down) or by repeating each value 2x2 (nearest, up)."""
    act = PointwiseLReLU(3, scale).double()
    assert [n for n, _ in act.named_parameters()] == [n for n, _ in AliasFreeLReLU(3, scale).named_parameters()]
    with torch.no_grad():
        act.bias.copy_(torch.tensor([0.5, -0.2, 0.0]))
    x = torch.randn(2, 3, 8, 12, dtype=F64)
    y = F.leaky_relu(x + act.bias[None, :, None, None], 0.2) * math.sqrt(2.0)
    resampled = {1.0: y, 0.5: F.avg_pool2d(y, 2), 2.0: y.repeat_interleave(2, 2).repeat_interleave(2, 3)}
    torch.testing.assert_close(act(x), resampled[scale], rtol=0, atol=0)
    assert torch.autograd.gradcheck(act, (x.requires_grad_(True),))


def test_pointwise_lrelu_refuses_grids_it_cannot_resample():
    with pytest.raises(ValueError, match="scale"):
        PointwiseLReLU(1, 0.5)(torch.zeros(1, 1, 7, 8))
    with pytest.raises(ValueError, match="scale"):
        PointwiseLReLU(1, 1.5)


def test_pointwise_silu_is_plain_silu():
    x = torch.randn(2, 3, 8, 8, dtype=F64)
    torch.testing.assert_close(silu_gate("pointwise")(x), F.silu(x), rtol=0, atol=0)
    assert isinstance(silu_gate("alias_free"), AliasFreeSiLU)


def test_pointwise_downsampling_aliases_where_the_alias_free_one_does_not():
    """A cosine above the coarse grid's Nyquist frequency, in the LReLU's linear range: the
    alias-free downsampling filters it out, the 2x2 mean folds it onto a low frequency of the
    coarse grid (aliasing, the ablation's point). Measured as the response to the cosine (the
    constant's response subtracted), away from the zero-padded border."""
    n, k, margin = 32, 13, 4
    t = torch.arange(n, dtype=F64)
    base = torch.full((1, 1, n, n), 8.0, dtype=F64)  # positive: LReLU is linear
    x = base + torch.cos(2 * math.pi * k * t / n)

    def folded(act: torch.nn.Module) -> float:
        row = (act.double()(x) - act(base))[0, 0, n // 4, margin:-margin]
        return row.abs().max().item()

    pointwise, alias_free = folded(PointwiseLReLU(1, 0.5)), folded(AliasFreeLReLU(1, 0.5))
    print(f"\nfolded amplitude: pointwise {pointwise:.2e}, alias-free {alias_free:.2e}")
    assert pointwise > 0.3 and alias_free < 1e-3
