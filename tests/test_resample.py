"""Resampling: exactness on sine/Fourier series and bilinear fields, round trips, types and shapes."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest
import torch

from mambano_core.data.benchmarks import get_benchmark
from mambano_core.ops.resample import resample, resample_fourier, resample_linear, resample_sine

Resampler = Callable[[Any, int], Any]


def trig_field(coeffs: np.ndarray, s: int) -> np.ndarray:
    """sum_{ky,kx} Re(c[ky, kx] exp(2 pi i (kx x + ky y))) on x_n = n/s; ky, kx in -K..K."""
    n_modes = (coeffs.shape[0] - 1) // 2
    k = np.arange(-n_modes, n_modes + 1)
    grid = np.arange(s) / s
    e = np.exp(2j * np.pi * np.outer(grid, k))  # (s, 2K+1)
    return (e @ coeffs @ e.T).real


def random_trig_coeffs(n_modes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    size = (2 * n_modes + 1, 2 * n_modes + 1)
    return rng.standard_normal(size) + 1j * rng.standard_normal(size)


def sine_field(coeffs: np.ndarray, s: int) -> np.ndarray:
    """sum b[j-1, i-1] sin(pi j y) sin(pi i x) on x_n = n/s (direct evaluation)."""
    grid = np.arange(s) / s
    basis = np.sin(np.pi * np.outer(grid, np.arange(1, coeffs.shape[0] + 1)))
    return basis @ coeffs @ basis.T


# --- sine (Dirichlet) -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["poisson", "wave"])
@pytest.mark.parametrize("distribution", ["id", "ood"])
def test_sine_upsampling_reproduces_generated_sample_in_float32(name: str, distribution: str) -> None:
    bench = get_benchmark(name)
    coarse, fine = bench.sample(17, distribution, 64), bench.sample(17, distribution, 256)  # type: ignore[arg-type]
    for low, high in ((coarse.input, fine.input), (coarse.output, fine.output)):
        up = resample_sine(low.astype(np.float32), 256)
        assert up.dtype == np.float32 and up.shape == (256, 256)
        assert np.abs(up - high.astype(np.float32)).max() <= 1e-6 * np.abs(high).max()
        np.testing.assert_allclose(resample_sine(low, 256), high, rtol=0, atol=1e-13 * np.abs(high).max())


@pytest.mark.parametrize("size", [64, 97, 40])
def test_sine_downsampling_of_band_limited_sample_is_exact(size: int) -> None:
    sample = get_benchmark("wave").sample(2, "id", 128)  # 24 modes < 40
    expected = get_benchmark("wave").sample(2, "id", size)
    for high, low in ((sample.input, expected.input), (sample.output, expected.output)):
        np.testing.assert_allclose(resample_sine(high, size), low, rtol=0, atol=1e-13 * np.abs(low).max())


def test_sine_single_mode_any_size() -> None:
    coeffs = np.zeros((5, 5))
    coeffs[4, 2] = 1.5  # 1.5 sin(5 pi y) sin(3 pi x)
    for s, size in [(16, 23), (23, 16), (7, 6)]:
        np.testing.assert_allclose(resample_sine(sine_field(coeffs, s), size), sine_field(coeffs, size), atol=1e-14)


def test_sine_truncates_modes_the_target_cannot_hold() -> None:
    coeffs = np.zeros((30, 30))
    coeffs[1, 2], coeffs[25, 3] = 1.0, 1.0  # mode 26 in y does not fit a 20-point grid
    kept = coeffs.copy()
    kept[25, 3] = 0.0
    np.testing.assert_allclose(resample_sine(sine_field(coeffs, 64), 20), sine_field(kept, 20), atol=1e-13)


@pytest.mark.parametrize(("s", "size"), [(40, 100), (33, 64), (16, 16)])
def test_sine_round_trip_is_identity(s: int, size: int) -> None:
    x = np.random.default_rng(0).standard_normal((2, s, s))
    x[..., 0, :] = 0.0
    x[..., :, 0] = 0.0
    y = resample_sine(x, size)
    assert np.all(y[..., 0, :] == 0) and np.all(y[..., :, 0] == 0)
    np.testing.assert_allclose(resample_sine(y, s), x, atol=1e-13)


# --- Fourier (periodic) -----------------------------------------------------------------------


@pytest.mark.parametrize(("s", "size"), [(32, 64), (32, 75), (31, 48), (32, 33)])
def test_fourier_upsampling_is_exact(s: int, size: int) -> None:
    coeffs = random_trig_coeffs((s - 1) // 2, seed=s + size)  # |k| < s/2
    np.testing.assert_allclose(resample_fourier(trig_field(coeffs, s), size), trig_field(coeffs, size), atol=1e-12)


@pytest.mark.parametrize(("s", "size"), [(64, 32), (64, 21), (33, 24)])
def test_fourier_downsampling_of_band_limited_field_is_exact(s: int, size: int) -> None:
    coeffs = random_trig_coeffs((size - 1) // 2, seed=s * size)
    np.testing.assert_allclose(resample_fourier(trig_field(coeffs, s), size), trig_field(coeffs, size), atol=1e-12)


def test_fourier_nyquist_split_and_merge() -> None:
    grid64, grid32 = np.arange(64) / 64, np.arange(32) / 32

    def field(g: np.ndarray) -> np.ndarray:  # cosines at the Nyquist frequency 16 of the 32 grid
        nyquist, smooth = np.cos(2 * np.pi * 16 * g), np.cos(2 * np.pi * 3 * g)
        return smooth[:, None] * nyquist[None, :] + nyquist[:, None]

    np.testing.assert_allclose(resample_fourier(field(grid64), 32), field(grid32), atol=1e-12)  # merge
    np.testing.assert_allclose(resample_fourier(field(grid32), 64), field(grid64), atol=1e-12)  # split


@pytest.mark.parametrize(("s", "size"), [(32, 64), (32, 33), (33, 64), (33, 80), (32, 32)])
def test_fourier_round_trip_is_identity(s: int, size: int) -> None:
    x = np.random.default_rng(1).standard_normal((3, s, s))  # any real array is band-limited on its grid
    np.testing.assert_allclose(resample_fourier(resample_fourier(x, size), s), x, atol=1e-12)


def test_fourier_reproduces_smooth_transport_at_other_resolutions() -> None:
    bench = get_benchmark("transport_smooth", sigma2_range=[0.003, 0.004])
    s64, s128, s48 = (bench.sample(5, "id", s) for s in (64, 128, 48))
    np.testing.assert_allclose(resample_fourier(s64.input, 128), s128.input, atol=1e-10)
    np.testing.assert_allclose(resample_fourier(s128.output, 48), s48.output, atol=1e-10)


# --- linear (open windows) --------------------------------------------------------------------


def bilinear_field(s: int) -> np.ndarray:
    """``2 - 3x + 0.5y + 4xy`` on x_n = n/s, indexed [y, x]."""
    x = np.arange(s) / s
    return 2.0 - 3.0 * x[None, :] + 0.5 * x[:, None] + 4.0 * x[:, None] * x[None, :]


@pytest.mark.parametrize(("s", "size"), [(16, 16), (16, 64), (16, 23), (23, 16), (64, 16), (7, 100), (2, 5)])
def test_linear_reproduces_bilinear_fields_at_any_size(s: int, size: int) -> None:
    # including the extrapolation past the last point (the grid holds x = 0, not x = 1)
    np.testing.assert_allclose(resample_linear(bilinear_field(s), size), bilinear_field(size), atol=1e-13)


@pytest.mark.parametrize(("s", "factor"), [(16, 2), (33, 3), (24, 4)])
def test_linear_keeps_shared_points(s: int, factor: int) -> None:
    x = np.random.default_rng(4).standard_normal((2, s, s))
    up = resample_linear(x, factor * s)
    np.testing.assert_array_equal(up[..., ::factor, ::factor], x)  # bit-exact at the shared points
    np.testing.assert_array_equal(resample_linear(up, s), x)  # round trip s -> factor s -> s
    np.testing.assert_array_equal(resample_linear(x, s), x)


def test_linear_does_not_overshoot_steps_or_wrap_edges() -> None:
    step = np.zeros((32, 32))
    step[:, 10:] = 1.0  # 1 on the right edge, 0 on the left: no periodic seam is assumed
    up = resample_linear(step, 100)
    assert up.min() == 0.0 and up.max() == 1.0
    assert np.all(up[:, 32:] == 1.0) and np.all(up[:, :29] == 0.0)  # x >= 10/32 and x <= 9/32
    assert np.abs(resample_fourier(step, 100)).max() > 1.05  # where a series rings


@pytest.mark.parametrize("distribution", ["id", "ood"])
def test_linear_resampling_of_airfoil_samples(distribution: str) -> None:
    # A cheap solver: the fields' structure (mask edges, shocks, free stream on the edges) matters here.
    bench = get_benchmark("airfoil", solver_spacing=1 / 16, far_field=4.0, stretching=1.3, levels=2, tol=1e-3,
                          max_cycles=100)
    coarse, fine = bench.sample(2, distribution, 64), bench.sample(2, distribution, 128)  # type: ignore[arg-type]
    for low, high in ((coarse.input, fine.input), (coarse.output, fine.output)):
        np.testing.assert_array_equal(resample_linear(high, 64), low)  # = the generator's own 64 grid
        error = np.abs(resample_linear(low, 128) - high).mean()
        assert error < 0.5 * np.abs(resample_fourier(low, 128) - high).mean()
    assert resample(coarse.input, 128, bench.boundary).max() <= 1.0


# --- types, shapes, dispatch ------------------------------------------------------------------


@pytest.mark.parametrize("func", [resample_sine, resample_fourier, resample_linear])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_batches_keep_dtype_and_match_single_fields(func: Resampler, dtype: torch.dtype) -> None:
    x = torch.randn(2, 3, 24, 24, dtype=torch.float64)
    out = func(x.to(dtype), 40)
    assert isinstance(out, torch.Tensor) and out.dtype == dtype and out.shape == (2, 3, 40, 40)
    for b in range(2):
        for c in range(3):
            single = func(x[b, c].numpy(), 40)
            tol = 1e-6 if dtype == torch.float32 else 1e-13
            np.testing.assert_allclose(out[b, c].double().numpy(), single, atol=tol * np.abs(single).max())
    assert func(torch.randn(2, 1, 2, 12, 12), 6).shape == (2, 1, 2, 6, 6)  # any leading axes


@pytest.mark.parametrize("func", [resample_sine, resample_fourier, resample_linear])
def test_numpy_in_numpy_out(func: Resampler) -> None:
    x = np.random.default_rng(2).standard_normal((16, 16))
    for dtype in (np.float32, np.float64):
        out = func(x.astype(dtype), 20)
        assert isinstance(out, np.ndarray) and out.dtype == dtype and out.shape == (20, 20)
    out_int = func(np.ones((8, 8), dtype=np.int64), 8)
    assert out_int.dtype == np.float64
    read_only = x.copy()
    read_only.setflags(write=False)
    np.testing.assert_array_equal(func(read_only, 20), func(x, 20))


def test_resample_dispatches_on_boundary() -> None:
    x = torch.randn(1, 1, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(resample(x, 24, "dirichlet"), resample_sine(x, 24))
    torch.testing.assert_close(resample(x, 24, "periodic"), resample_fourier(x, 24))
    torch.testing.assert_close(resample(x, 24, "open"), resample_linear(x, 24))
    assert not torch.allclose(resample(x, 24, "dirichlet"), resample(x, 24, "periodic"))
    with pytest.raises(ValueError, match="boundary"):
        resample(x, 24, "neumann")  # type: ignore[arg-type]


@pytest.mark.parametrize("func", [resample_sine, resample_fourier, resample_linear])
def test_invalid_inputs_raise(func: Resampler) -> None:
    with pytest.raises(ValueError, match="square"):
        func(torch.zeros(2, 16, 8), 16)
    with pytest.raises(ValueError, match=r"\(\.\.\., H, W\)"):
        func(np.zeros(16), 8)
    with pytest.raises(ValueError, match="size"):
        func(np.zeros((8, 8)), 0)
    with pytest.raises(ValueError, match="real"):
        func(torch.zeros(8, 8, dtype=torch.complex64), 8)
    with pytest.raises(TypeError):
        func([[0.0, 1.0], [1.0, 0.0]], 4)


@pytest.mark.parametrize("func", [resample_sine, resample_fourier, resample_linear])
def test_resampling_is_differentiable(func: Resampler) -> None:
    x = torch.randn(1, 6, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: func(t, 9), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: func(t, 4), (x,), fast_mode=True)


@pytest.mark.parametrize("boundary", ["dirichlet", "periodic"])
def test_resample_mode_resamples_physical_fields_not_normalised_ones(boundary: str) -> None:
    """An identity model in ``resample`` mode returns its band-limited input at any grid.

    Min-max normalisation shifts a field by a constant; a constant is not a sine series, so
    resampling the normalised values (rather than the physical field) rings everywhere."""
    from mambano_core.data.normalization import Normalization
    from mambano_core.inference.run import infer

    coarse = torch.from_numpy(np.random.default_rng(0).standard_normal((3, 1, 8, 8)))
    physical = resample(coarse, 64, boundary)  # band-limited, representable on the 32-grid
    norm = Normalization(input_min=-3.0, input_max=2.0, output_min=-3.0, output_max=2.0)
    x = norm.encode_input(physical).float()
    y = infer(torch.nn.Identity(), x, "resample", 32, boundary, normalization=norm)
    assert torch.allclose(y, x, atol=1e-5)
