"""Benchmarks 1-4: exactness against the PDEs, reproducibility, ID/OOD, resolution invariance."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from scipy.fft import dstn

from mambano_core.data.benchmarks import available_benchmarks, get_benchmark
from mambano_core.data.benchmarks.poisson import Poisson
from mambano_core.data.benchmarks.transport import TransportDiscontinuous, TransportSmooth
from mambano_core.data.benchmarks.wave import Wave
from mambano_core.data.seeding import sample_rng
from mambano_core.errors import SpecError

NAMES = ("poisson", "wave", "transport_smooth", "transport_discontinuous")


def laplacian_5pt(u: np.ndarray) -> np.ndarray:
    """5-point Laplacian at the interior points n = 1..s-1 of zero-Dirichlet data on x_n = n/s."""
    s = u.shape[0]
    padded = np.zeros((s + 1, s + 1))
    padded[:s, :s] = u  # the row/column x = 1 is the (zero) boundary, not stored
    centre = padded[1:-1, 1:-1]
    return (padded[2:, 1:-1] + padded[:-2, 1:-1] + padded[1:-1, 2:] + padded[1:-1, :-2] - 4 * centre) * s**2


def sine_modes(field: np.ndarray) -> np.ndarray:
    """Coefficients b[j-1, i-1] of field = sum b sin(pi j y) sin(pi i x), by scipy's DST-I."""
    s = field.shape[0]
    return dstn(field[1:, 1:], type=1) / s**2


def mode_weights(n_modes: int, r: float) -> np.ndarray:
    k = np.arange(1, n_modes + 1)
    return np.pi / n_modes**2 * (k[:, None] ** 2 + k[None, :] ** 2) ** (-r)


# --- registry ---------------------------------------------------------------------------------


def test_registry_lists_and_builds_benchmarks() -> None:
    assert set(NAMES) <= set(available_benchmarks())
    for name in NAMES:
        bench = get_benchmark(name)
        assert bench.name == name
        json.dumps(bench.config)  # JSON-serialisable
        assert set(bench.reference_counts) == {"train", "val", "test_id", "test_ood"}
    assert get_benchmark("poisson").reference_counts["train"] == 1024
    assert get_benchmark("wave", K_id=8).config["K_id"] == 8
    assert get_benchmark("transport_smooth").normalize is False
    assert get_benchmark("wave").boundary == "dirichlet"
    assert get_benchmark("transport_discontinuous").boundary == "periodic"


def test_registry_errors() -> None:
    with pytest.raises(SpecError, match="poisson"):
        get_benchmark("no_such_pde")
    with pytest.raises(SpecError, match="K_idd"):
        get_benchmark("poisson", K_idd=3)
    with pytest.raises(SpecError, match="K_ood"):
        get_benchmark("wave", K_ood=0)
    with pytest.raises(SpecError, match="radius_range"):
        get_benchmark("transport_discontinuous", radius_range=[0.3, 0.1])


@pytest.mark.parametrize("name", NAMES)
def test_invalid_requests(name: str) -> None:
    bench = get_benchmark(name)
    with pytest.raises(ValueError, match="distribution"):
        bench.sample(0, "train", 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resolution"):
        bench.sample(0, "id", 1)


# --- Poisson ----------------------------------------------------------------------------------


def test_poisson_discrete_laplacian_converges_second_order() -> None:
    bench = Poisson()
    errors = []
    for s in (64, 128, 256):
        sample = bench.sample(11, "id", s)
        f, u = sample.input, sample.output
        assert np.all(u[0, :] == 0) and np.all(u[:, 0] == 0)
        errors.append(np.abs(-laplacian_5pt(u) - f[1:, 1:]).max() / np.abs(f).max())
    orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((orders > 1.8) & (orders < 2.2)), (errors, orders)
    assert errors[-1] < 1e-2


@pytest.mark.parametrize(("distribution", "n_modes"), [("id", 16), ("ood", 20)])
def test_poisson_source_spectrum(distribution: str, n_modes: int) -> None:
    seed = 5
    f = Poisson().sample(seed, distribution, 64).input  # type: ignore[arg-type]
    b = sine_modes(f)
    a = sample_rng(seed).uniform(-1, 1, size=(n_modes, n_modes))
    np.testing.assert_allclose(b[:n_modes, :n_modes], mode_weights(n_modes, -0.5) * a, atol=1e-12)
    assert np.abs(b[n_modes:, :]).max() < 1e-12 and np.abs(b[:, n_modes:]).max() < 1e-12


# --- Wave -------------------------------------------------------------------------------------


def test_wave_single_mode_matches_closed_form() -> None:
    seed, s = 3, 32
    sample = Wave(K_id=1).sample(seed, "id", s)
    x = np.arange(s) / s
    a11 = sample_rng(seed).uniform(-1, 1, size=(1, 1))[0, 0]
    u0 = np.pi * a11 * 2.0**-1 * np.outer(np.sin(np.pi * x), np.sin(np.pi * x))
    np.testing.assert_allclose(sample.input, u0, atol=1e-15)
    np.testing.assert_allclose(sample.output, np.cos(0.1 * np.pi * 5 * np.sqrt(2)) * u0, atol=1e-15)


@pytest.mark.parametrize(("distribution", "n_modes", "r"), [("id", 24, 1.0), ("ood", 32, 0.85)])
def test_wave_modal_solution(distribution: str, n_modes: int, r: float) -> None:
    seed = 8
    sample = Wave().sample(seed, distribution, 80)  # type: ignore[arg-type]
    b0, b_t = sine_modes(sample.input), sine_modes(sample.output)
    a = sample_rng(seed).uniform(-1, 1, size=(n_modes, n_modes))
    np.testing.assert_allclose(b0[:n_modes, :n_modes], mode_weights(n_modes, r) * a, atol=1e-13)
    assert np.abs(b0[n_modes:, :]).max() < 1e-13 and np.abs(b0[:, n_modes:]).max() < 1e-13
    k = np.arange(1, n_modes + 1)
    factor = np.cos(0.1 * np.pi * 5.0 * np.hypot(k[:, None], k[None, :]))
    np.testing.assert_allclose(b_t[:n_modes, :n_modes], factor * b0[:n_modes, :n_modes], atol=1e-13)


def test_wave_satisfies_pde_and_initial_conditions() -> None:
    seed, dt, c = 7, 2e-3, 0.1
    np.testing.assert_allclose(Wave(T=0.0).sample(seed, "id", 32).output, Wave().sample(seed, "id", 32).input)
    # u_t(0) = 0: the difference quotient (u(h) - u(0)) / h = O(h) halves with h
    u0 = Wave().sample(seed, "id", 32).input
    quotients = [np.abs(Wave(T=h).sample(seed, "id", 32).output - u0).max() / h for h in (1e-2, 5e-3)]
    assert quotients[0] / quotients[1] == pytest.approx(2.0, rel=0.01)
    errors = []
    for s in (128, 256):
        u = [Wave(T=5.0 + m * dt).sample(seed, "id", s).output for m in (-1, 0, 1)]
        u_tt = (u[2] - 2 * u[1] + u[0]) / dt**2
        errors.append(np.abs(u_tt[1:, 1:] - c**2 * laplacian_5pt(u[1])).max() / np.abs(u_tt).max())
    assert errors[1] < 5e-3 and np.log2(errors[0] / errors[1]) > 1.8, errors


# --- transport --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [TransportSmooth, TransportDiscontinuous])
@pytest.mark.parametrize("distribution", ["id", "ood"])
def test_transport_output_is_shifted_input(cls: type, distribution: str) -> None:
    s = 40  # v T = (0.2, -0.2) is (8, -8) cells in (x, y)
    for seed in range(5):
        sample = cls().sample(seed, distribution, s)
        assert sample.input.max() > 0.5
        # uT(x, y) = u0(x - 0.2, y + 0.2): axis 0 is y (shift -8), axis 1 is x (shift +8)
        np.testing.assert_allclose(sample.output, np.roll(sample.input, shift=(-8, 8), axis=(0, 1)), atol=1e-12)


def test_transport_time_and_velocity_are_configurable() -> None:
    bench = TransportSmooth(velocity=[0.5, 0.25], T=0.4)  # shift (0.2, 0.1) = (8, 4) cells at s=40
    sample = bench.sample(1, "id", 40)
    np.testing.assert_allclose(sample.output, np.roll(sample.input, shift=(4, 8), axis=(0, 1)), atol=1e-12)


@pytest.mark.parametrize(
    ("cls", "shape_name", "shape_range"),
    [(TransportSmooth, "sigma2", (0.003, 0.009)), (TransportDiscontinuous, "radius", (0.1, 0.2))],
)
@pytest.mark.parametrize(("distribution", "centre_range"), [("id", (0.2, 0.4)), ("ood", (0.4, 0.6))])
def test_transport_params(
    cls: type, shape_name: str, shape_range: tuple[float, float], distribution: str, centre_range: tuple[float, float]
) -> None:
    for seed in range(10):
        params = cls().sample(seed, distribution, 32).params
        assert tuple(params) == cls.param_names == ("cx", "cy", shape_name)
        assert all(centre_range[0] <= params[key] <= centre_range[1] for key in ("cx", "cy"))
        assert shape_range[0] <= params[shape_name] <= shape_range[1]


@pytest.mark.parametrize("distribution", ["id", "ood"])
def test_transport_bump_sits_at_its_centre(distribution: str) -> None:
    s = 64
    for seed in range(10):
        sample = TransportSmooth().sample(seed, distribution, s)  # type: ignore[arg-type]
        iy, ix = np.unravel_index(np.argmax(sample.input), (s, s))  # fields are [y, x]
        assert abs(ix / s - sample.params["cx"]) <= 0.5 / s and abs(iy / s - sample.params["cy"]) <= 0.5 / s


def test_transport_discontinuous_is_a_point_sampled_disk() -> None:
    s = 256
    sample = TransportDiscontinuous().sample(4, "id", s)
    assert set(np.unique(sample.input)) <= {0.0, 1.0} and set(np.unique(sample.output)) <= {0.0, 1.0}
    area = sample.input.mean()
    assert area == pytest.approx(np.pi * sample.params["radius"] ** 2, rel=0.03)
    assert sample.output.mean() == pytest.approx(area, rel=0.03)


@pytest.mark.parametrize("cls", [TransportSmooth, TransportDiscontinuous])
def test_transport_is_periodic(cls: type) -> None:
    near_corner = cls(centre_range_id=[0.98, 0.98]).sample(2, "id", 64)
    wrapped = cls(centre_range_id=[-0.02, -0.02]).sample(2, "id", 64)  # the same centre mod 1
    np.testing.assert_allclose(near_corner.input, wrapped.input, atol=1e-12)
    np.testing.assert_allclose(near_corner.output, wrapped.output, atol=1e-12)
    # the profile centred at the corner wraps onto all four corners of the stored grid
    assert near_corner.input[[0, 0, -1, -1], [0, -1, 0, -1]].min() > 0.5


def test_transport_smooth_straddling_the_corner_is_smooth_and_periodic() -> None:
    u0 = TransportSmooth(centre_range_id=[0.99, 0.99], sigma2_range=[0.004, 0.004]).sample(0, "id", 64).input
    spectrum = np.abs(np.fft.rfft2(u0)) / np.abs(u0).sum()
    high = spectrum[20:-20, 20:]  # |k| >= 20 in both directions would be O(1e-3) with a seam
    assert high.max() < 1e-10


# --- seeds, distributions, resolutions --------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_seed_defines_the_sample(name: str) -> None:
    bench = get_benchmark(name)
    a, b, c = bench.sample(42, "id", 48), bench.sample(42, "id", 48), bench.sample(43, "id", 48)
    assert np.array_equal(a.input, b.input) and np.array_equal(a.output, b.output) and a.params == b.params
    assert not np.array_equal(a.input, c.input)
    assert not np.array_equal(a.input, bench.sample(42, "ood", 48).input)
    for arr in (a.input, a.output):
        assert arr.dtype == np.float64 and arr.shape == (48, 48) and np.all(np.isfinite(arr))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(("coarse", "factor"), [(64, 2), (33, 3)])
def test_same_sample_at_every_resolution(name: str, coarse: int, factor: int) -> None:
    bench = get_benchmark(name)
    for distribution in ("id", "ood"):
        low = bench.sample(9, distribution, coarse)  # type: ignore[arg-type]
        high = bench.sample(9, distribution, coarse * factor)  # type: ignore[arg-type]
        assert low.params == high.params
        for lo, hi in ((low.input, high.input), (low.output, high.output)):
            np.testing.assert_allclose(lo, hi[::factor, ::factor], rtol=0, atol=1e-13 * np.abs(hi).max())


def test_poisson_is_fast() -> None:
    bench = Poisson()
    bench.sample(0, "id", 64)
    start = time.perf_counter()
    for seed in range(50):
        bench.sample(seed, "id", 64)
    assert (time.perf_counter() - start) / 50 < 10e-3
