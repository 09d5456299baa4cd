"""Benchmarks 5-7 (Allen-Cahn, Navier-Stokes, Darcy): generators, reproducibility, ID/OOD, resolutions.

The solvers behind them are verified in tests/test_solvers.py.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from scipy.fft import dstn

from mambano_core.data.benchmarks import available_benchmarks, get_benchmark
from mambano_core.data.benchmarks.navier_stokes import NavierStokes, shear_layer_velocity
from mambano_core.data.benchmarks.sines import sine_weights
from mambano_core.data.seeding import sample_rng
from mambano_core.errors import SpecError
from mambano_core.ops.resample import resample_fourier

NAMES = ("allen_cahn", "navier_stokes", "darcy")

# Small solver settings: the properties tested here do not depend on the solver's accuracy.
FAST: dict[str, dict[str, Any]] = {
    "allen_cahn": {"solver_resolution": 128, "n_steps": 20},
    "navier_stokes": {"solver_resolution": 64, "T": 0.05},
    "darcy": {"solver_resolution": 64, "n_modes": 32},
}


def test_registry_and_metadata() -> None:
    assert set(NAMES) <= set(available_benchmarks())
    expected = {
        "allen_cahn": ("dirichlet", "u0", "uT", 256),
        "navier_stokes": ("periodic", "u0", "uT", 750),
        "darcy": ("dirichlet", "a", "u", 256),
    }
    for name, (boundary, input_name, output_name, n_train) in expected.items():
        bench = get_benchmark(name)
        assert (bench.boundary, bench.input_name, bench.output_name) == (boundary, input_name, output_name)
        assert bench.reference_counts == {"train": n_train, "val": 128, "test_id": 128, "test_ood": 128}
        assert json.loads(json.dumps(bench.config)) == bench.config
        assert bench.normalize
        assert "Raonic" in (type(bench).__doc__ or "")
    assert "Li et al." in (get_benchmark("darcy").__doc__ or "")
    assert get_benchmark("allen_cahn").param_names == ("r",)
    assert len(get_benchmark("navier_stokes").param_names) == 20


@pytest.mark.parametrize(
    ("name", "overrides", "key"),
    [
        ("allen_cahn", {"solver_resolution": 24}, "solver_resolution"),
        ("allen_cahn", {"r_ood_range": [1.2, 0.8]}, "r_ood_range"),
        ("navier_stokes", {"p": 11}, "p"),
        ("navier_stokes", {"cfl": 2.0}, "cfl"),
        ("navier_stokes", {"solver_resolution": 63}, "solver_resolution"),
        ("darcy", {"a_low": 0.0}, "a_high and a_low"),
        ("darcy", {"drop_constant_mode": 1}, "drop_constant_mode"),
    ],
)
def test_invalid_config(name: str, overrides: dict[str, object], key: str) -> None:
    with pytest.raises(SpecError, match=key):
        get_benchmark(name, **overrides)


@pytest.mark.parametrize("name", NAMES)
def test_reproducible_and_seed_dependent(name: str) -> None:
    bench = get_benchmark(name, **FAST[name])
    first, again, other = bench.sample(11, "id", 32), bench.sample(11, "id", 32), bench.sample(12, "id", 32)
    for sample in (first, other):
        assert sample.input.shape == sample.output.shape == (32, 32)
        assert np.all(np.isfinite(sample.input)) and np.all(np.isfinite(sample.output))
        assert set(sample.params) == set(bench.param_names)
    np.testing.assert_array_equal(first.input, again.input)
    np.testing.assert_array_equal(first.output, again.output)
    assert first.params == again.params
    assert np.abs(first.output - other.output).max() > 1e-3
    with pytest.raises(ValueError, match="distribution"):
        bench.sample(0, "train", 32)  # type: ignore[arg-type]


# --- Allen-Cahn -------------------------------------------------------------------------------


@pytest.mark.parametrize(("distribution", "n_modes"), [("id", 24), ("ood", 16)])
def test_allen_cahn_input_is_sines(distribution: str, n_modes: int) -> None:
    bench = get_benchmark("allen_cahn", **FAST["allen_cahn"])
    sample = bench.sample(5, distribution, 64)  # type: ignore[arg-type]
    r = sample.params["r"]
    if distribution == "id":
        assert r == 1.0
    else:
        assert 0.85 <= r <= 1.15
    a = sample_rng(5).uniform(-1.0, 1.0, size=(n_modes, n_modes))
    modes = dstn(sample.input[1:, 1:], type=1) / 64**2  # b[j-1, i-1] of sin(pi j y) sin(pi i x)
    np.testing.assert_allclose(modes[:n_modes, :n_modes], sine_weights(n_modes, r) * a, atol=1e-14)
    assert np.abs(modes[n_modes:, :]).max() < 1e-14


def test_allen_cahn_ood_r_varies_and_saturates() -> None:
    bench = get_benchmark("allen_cahn", **FAST["allen_cahn"])
    rs = [bench.sample(seed, "ood", 32).params["r"] for seed in range(4)]
    assert len(set(rs)) == 4
    output = bench.sample(0, "id", 64).output
    assert np.mean(np.abs(output[1:, 1:]) > 0.9) > 0.5  # phases +-1 separated by thin interfaces


def test_allen_cahn_same_sample_at_every_resolution() -> None:
    bench = get_benchmark("allen_cahn", **FAST["allen_cahn"])
    coarse, fine, finest = (bench.sample(3, "ood", s) for s in (32, 64, 128))
    for big, factor in ((fine, 2), (finest, 4)):
        np.testing.assert_allclose(big.input[::factor, ::factor], coarse.input, atol=1e-15)
        np.testing.assert_allclose(big.output[::factor, ::factor], coarse.output, atol=1e-12)
    assert np.all(coarse.output[0, :] == 0) and np.all(coarse.output[:, 0] == 0)


# --- Navier-Stokes ----------------------------------------------------------------------------


def test_shear_layer_profile() -> None:
    y = (np.arange(64) / 64)[:, None]
    flat = shear_layer_velocity(y, np.zeros((1, 64)), 0.1)
    expected = np.where(y <= 0.5, np.tanh(20 * np.pi * (y - 0.25)), np.tanh(20 * np.pi * (0.75 - y)))
    np.testing.assert_allclose(flat, np.broadcast_to(expected, (64, 64)), atol=0)
    shifted = shear_layer_velocity(y, np.full((1, 64), 0.125), 0.1)
    np.testing.assert_allclose(shifted, np.roll(flat, -8, axis=0), atol=1e-12)  # layers move to 1/4 - sigma


def test_navier_stokes_params_and_ood() -> None:
    bench = NavierStokes(p=4, **FAST["navier_stokes"])
    params = bench.draw_params(9, "id")
    alpha = np.array([params[f"alpha_{k}"] for k in range(1, 11)])
    beta = np.array([params[f"beta_{k}"] for k in range(1, 11)])
    rng = sample_rng(9)
    np.testing.assert_array_equal(alpha[:4], rng.uniform(0, 1, 4))
    np.testing.assert_array_equal(beta[:4], rng.uniform(0, 1, 4))
    assert np.all(alpha[4:] == 0) and np.all(beta[4:] == 0)
    x = np.linspace(0, 1, 200)
    np.testing.assert_allclose(bench.perturbation(params, "ood", x), 2 * bench.perturbation(params, "id", x))
    id_input, ood_input = bench.sample(9, "id", 64).input, bench.sample(9, "ood", 64).input
    assert np.abs(id_input - ood_input).max() > 0.1


def test_navier_stokes_resolutions_are_fourier_truncations() -> None:
    bench = get_benchmark("navier_stokes", **FAST["navier_stokes"])
    fine, coarse, up = bench.sample(2, "id", 64), bench.sample(2, "id", 32), bench.sample(2, "id", 96)
    np.testing.assert_allclose(coarse.input, resample_fourier(fine.input, 32), atol=1e-12)
    np.testing.assert_allclose(coarse.output, resample_fourier(fine.output, 32), atol=1e-12)
    # The solver's modes (|k| <= 21 at n = 64) fit a 96 grid: it holds exactly the same function.
    np.testing.assert_allclose(resample_fourier(up.output, 64), fine.output, atol=1e-12)
    np.testing.assert_allclose(up.output, resample_fourier(fine.output, 96), atol=1e-12)


# --- Darcy ------------------------------------------------------------------------------------


def test_darcy_sample_structure_and_resolutions() -> None:
    bench = get_benchmark("darcy", **FAST["darcy"])
    coarse, fine = bench.sample(4, "id", 32), bench.sample(4, "id", 64)
    assert set(np.unique(fine.input)) == {3.0, 12.0}
    np.testing.assert_array_equal(fine.input[::2, ::2], coarse.input)
    np.testing.assert_allclose(fine.output[::2, ::2], coarse.output, atol=1e-15)
    assert np.all(fine.output[0, :] == 0) and np.all(fine.output[:, 0] == 0)
    assert fine.output[1:, 1:].min() > 0  # -div(a grad u) = 1 > 0 with u = 0 on the boundary
    odd = bench.sample(4, "id", 48)  # N = 96: another solver grid, the same a at shared points
    x48, x64 = np.arange(48) / 48, np.arange(64) / 64
    i48, i64 = np.nonzero(np.isclose(x48[:, None], x64[None, :]))
    np.testing.assert_array_equal(odd.input[np.ix_(i48, i48)], fine.input[np.ix_(i64, i64)])
    assert np.abs(odd.output[np.ix_(i48, i48)] - fine.output[np.ix_(i64, i64)]).max() < 0.05 * fine.output.max()


def test_darcy_ood_is_rougher() -> None:
    """With tau = 4 the field decorrelates faster: more sign changes of mu along grid lines."""
    bench = get_benchmark("darcy", **FAST["darcy"])
    counts = {}
    for distribution in ("id", "ood"):
        crossings = [
            np.count_nonzero(np.diff(bench.sample(seed, distribution, 64).input, axis=1)) for seed in range(12)
        ]
        counts[distribution] = np.mean(crossings)
    assert counts["ood"] > 1.15 * counts["id"]
