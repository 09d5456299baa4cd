"""The airfoil benchmark: RAE 2822 geometry, Hicks-Henne shapes, masks, samples and the loss mask."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from mambano_core.data.benchmarks import available_benchmarks, get_benchmark
from mambano_core.data.benchmarks.airfoil import Airfoil, airfoil_mask, apply_airfoil_mask
from mambano_core.data.store import Store
from mambano_core.errors import SpecError
from mambano_core.solvers.euler.geometry import (
    RAE2822_LOWER,
    RAE2822_UPPER,
    RAE2822_X,
    hicks_henne,
    perturbed_rae2822,
    rae2822,
)
from mambano_core.solvers.euler.solver import SolverSettings
from mambano_core.training.spec import apply_overrides

# A cheap solver configuration: the structure of a sample, not its accuracy.
CHEAP = {"solver_spacing": 1 / 32, "far_field": 8.0, "stretching": 1.2, "levels": 3, "tol": 1e-4, "max_cycles": 400}


def test_rae2822_spline_reproduces_the_agard_table() -> None:
    airfoil = rae2822()
    np.testing.assert_allclose(RAE2822_X[[0, 1, 32, 64]], [0.0, 0.000602, 0.5, 1.0], atol=5e-7)
    np.testing.assert_allclose(airfoil.upper(RAE2822_X), RAE2822_UPPER, atol=1e-12)
    np.testing.assert_allclose(airfoil.lower(RAE2822_X), RAE2822_LOWER, atol=1e-12)
    x = np.linspace(0.0, 1.0, 20001)
    t = airfoil.thickness(x)
    assert t.max() == pytest.approx(0.1211, abs=2e-4) and x[t.argmax()] == pytest.approx(0.38, abs=0.02)
    radius = airfoil.upper(x[1:6]) ** 2 / (2 * x[1:6])  # y^2 ~ 2 r x at a round nose
    np.testing.assert_allclose(radius, 0.00827, rtol=0.03)
    assert np.all(t[1:-1] > 0)


def test_hicks_henne_bumps_peak_at_their_position_and_vanish_at_the_edges() -> None:
    peaks = np.array([0.05, 0.2, 0.4, 0.6, 0.8])
    bumps = hicks_henne(np.array([0.0, 1.0]), peaks)
    np.testing.assert_allclose(bumps, 0.0, atol=1e-40)
    np.testing.assert_allclose(np.diag(hicks_henne(peaks, peaks)), 1.0, rtol=1e-12)
    x = np.linspace(0, 1, 2001)
    values = hicks_henne(x, peaks)
    assert np.all(values >= 0) and np.all(values <= 1 + 1e-12)
    np.testing.assert_allclose(x[values.argmax(axis=1)], peaks, atol=1e-3)
    with pytest.raises(ValueError):
        hicks_henne(x, np.array([0.0, 0.5]))


def test_perturbation_is_zero_at_the_leading_and_trailing_edges() -> None:
    rng = np.random.default_rng(0)
    peaks = np.array([0.05, 0.2, 0.4, 0.6, 0.8])
    shape = perturbed_rae2822(rng.uniform(-0.01, 0.01, 5), rng.uniform(-0.01, 0.01, 5), peaks)
    ref = rae2822()
    for x in (0.0, 1.0):
        assert shape.upper(np.array([x]))[0] == pytest.approx(ref.upper(np.array([x]))[0], abs=1e-15)
        assert shape.lower(np.array([x]))[0] == pytest.approx(ref.lower(np.array([x]))[0], abs=1e-15)
    x = np.linspace(0.1, 0.9, 9)
    assert np.max(np.abs(shape.upper(x) - ref.upper(x))) > 1e-3  # but not elsewhere


@pytest.mark.parametrize("distribution", ["id", "ood"])
def test_shapes_are_valid_reproducible_and_ood_is_larger(distribution: str) -> None:
    bench = Airfoil()
    x = np.linspace(1e-3, 1 - 1e-3, 2001)
    ref = rae2822().thickness(x)
    scale = bench.peak_thickness()
    bound = bench.config[f"amplitude_{distribution}"]
    for seed in range(100):
        a_up, a_lo = bench.amplitudes(seed, distribution)
        assert np.all(np.abs(a_up) <= bound * scale + 1e-15) and np.all(np.abs(a_lo) <= bound * scale + 1e-15)
        np.testing.assert_array_equal(bench.amplitudes(seed, distribution)[0], a_up)
        assert np.min(bench.shape(seed, distribution).thickness(x) / ref) > 0.1
    worst_id, worst_ood = bench.worst_thinning(0.1), bench.worst_thinning(0.2)
    assert worst_id < 0.5 and worst_id < worst_ood < 0.9
    ood = np.concatenate([np.abs(np.concatenate(bench.amplitudes(s, "ood"))) / np.tile(scale, 2) for s in range(50)])
    assert ood.max() > 0.15  # beyond the ID range 0.1


def test_mask_agrees_at_shared_points_and_is_the_geometry() -> None:
    bench = Airfoil()
    for seed in range(5):
        shape = bench.shape(seed, "id")
        masks = {s: shape.contains(*bench.points(s)).astype(float) for s in (64, 128)}
        np.testing.assert_array_equal(masks[64], masks[128][::2, ::2])
        X, Y = bench.points(128)
        assert X[0, 0] == -0.5 and Y[0, 0] == -1.0 and X[0, 1] - X[0, 0] == pytest.approx(2 / 128)
        area = masks[128].sum() * (2 / 128) ** 2
        exact = np.trapezoid(shape.thickness(np.linspace(0, 1, 4001)), np.linspace(0, 1, 4001))
        assert area == pytest.approx(exact, rel=0.1)


def test_benchmark_is_registered_with_the_protocol() -> None:
    assert "airfoil" in available_benchmarks()
    bench = get_benchmark("airfoil")
    assert isinstance(bench, Airfoil)
    assert (bench.normalize, bench.default_resolution, bench.samples_per_task) == (False, 128, 1)
    assert bench.reference_counts == {"train": 750, "val": 128, "test_id": 128, "test_ood": 128}
    assert bench.boundary == "open"  # a window of an unbounded flow: linear resampling (docs/airfoil.md)
    assert bench.param_names[:2] == ("a_upper_1", "a_upper_2") and bench.param_names[-2:] == ("residual", "cycles")


@pytest.mark.parametrize(
    "overrides",
    [{"amplitude_ood": 1.0}, {"bump_peaks": [0.1, 0.2]}, {"bump_peaks": [0.0, 0.2, 0.4, 0.6, 0.8]},
     {"flux": "roe"}, {"levels": 0}, {"window": [0, 1, 0]}, {"stretching": 0.9}, {"curved_wall": "yes"},
     {"far_field_vortex": 1}, {"freeze_below": 0.5},
     {"unfreeze_above": "never"}, {"unfreeze_above": float("nan")}, {"mach": float("nan")}],
)
def test_invalid_configurations_are_rejected(overrides: dict) -> None:
    with pytest.raises(SpecError):
        get_benchmark("airfoil", **overrides)


def test_the_solver_settings_are_those_of_data_revision_2() -> None:
    # Issue #18: the point-vortex far field and the curvature-corrected wall ghosts (docs/airfoil.md,
    # "Data revisions"); switched off, the solver is revision 1's.
    settings = get_benchmark("airfoil").settings()
    assert settings.far_field_vortex and settings.curved_wall
    assert (settings.freeze_below, settings.unfreeze_above) == (300.0, 30.0)
    assert (settings.flux, settings.limiter, settings.levels, settings.tol) == ("hllc", "van_albada", 5, 1e-5)
    old = get_benchmark("airfoil", **Airfoil.revision_1).settings()
    assert old == SolverSettings()  # revision 1: the solver's defaults


def test_the_regenerate_hint_of_a_revision_1_store_is_a_valid_command(tmp_path) -> None:
    # A revision-1 store records unfreeze_above = inf (JSON: Infinity); the hint must say it as
    # --set reads it (YAML .inf), or the command it suggests is refused.
    config = json.loads(json.dumps(get_benchmark("airfoil", **Airfoil.revision_1).config))
    manifest = {"benchmark": "airfoil", "base_seed": 0, "config": config, "files": {}}
    command = Store(tmp_path, "airfoil").regenerate_command("train", 64, manifest)
    sets = re.findall(r"--set (\S+)", command)
    assert "unfreeze_above=.inf" in sets and "curved_wall=false" in sets
    overrides = apply_overrides({}, sets)
    assert get_benchmark("airfoil", **overrides).settings() == SolverSettings()


def test_a_sample_has_the_benchmark_structure() -> None:
    bench = get_benchmark("airfoil", **CHEAP)
    sample = bench.sample(3, "ood", 64)
    assert sample.input.shape == sample.output.shape == (64, 64)
    assert set(np.unique(sample.input)) == {0.0, 1.0}
    inside = sample.input == 1
    assert np.all(sample.output[inside] == 1.0)
    # supersonic expansion over the upper surface (sonic density 0.816) but not beyond local Mach ~1.8
    # (density 0.40; this coarse grid's OOD seed 3 reaches 0.49 at the nose, the default grid 0.45-0.59)
    assert np.isfinite(sample.output).all() and 0.4 < sample.output.min() < 0.8 and sample.output.max() > 1.05
    assert set(sample.params) == set(bench.param_names)
    a_up, _ = bench.amplitudes(3, "ood")
    assert sample.params["a_upper_1"] == a_up[0] and sample.params["residual"] < 1e-4
    # the same seed at another resolution: identical at the shared points (one solve, resampled)
    fine = bench.sample(3, "ood", 128)
    np.testing.assert_array_equal(fine.output[::2, ::2], sample.output)
    np.testing.assert_array_equal(fine.input[::2, ::2], sample.input)
    # and a fresh generator (no cached solution) reproduces it
    again = get_benchmark("airfoil", **CHEAP).sample(3, "ood", 64)
    np.testing.assert_array_equal(again.output, sample.output)


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "distribution"), [(1, "id"), (0, "ood")])
def test_a_default_sample_converges_and_has_a_shock(seed: int, distribution: str) -> None:
    # OOD seed 0 never converged (residual cycling around 1e-4 until max_cycles) before the limiter
    # freezing after repeated multigrid stalls (SolverSettings); it now converges in ~520 cycles.
    bench = get_benchmark("airfoil")
    sample = bench.sample(seed, distribution, 128)  # type: ignore[arg-type]
    assert sample.params["residual"] < bench.config["tol"] and sample.params["cycles"] < 1000
    rho = sample.output
    assert rho.min() < 0.75  # supersonic expansion over the upper surface (sonic density 0.816)
    jumps = np.abs(np.diff(rho, axis=1))[64:96, 32:96]  # over the upper surface, along x
    assert jumps.max() > 0.1  # a shock


@pytest.mark.slow
def test_a_sample_frozen_too_early_goes_back_and_converges() -> None:
    # Data revision 2 (docs/airfoil.md, Steady iteration): the 11th OOD sample of the cpu-small store
    # (base seed 0) freezes its limiter at a residual of 2.5e-3 and, frozen, diverges at cycle 1032;
    # going back to the state of the freeze (unfreeze_above) it converges in 896 cycles.
    seed = 3474915907165708337
    with pytest.raises(FloatingPointError):
        get_benchmark("airfoil", unfreeze_above=float("inf")).solve(seed, "ood")
    bench = get_benchmark("airfoil")
    result, _ = bench.solve(seed, "ood")
    assert result.converged and result.residual < bench.config["tol"] and result.cycles < 1000


def test_apply_airfoil_mask_sets_the_inside_to_one_in_both_fields() -> None:
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, 3:5, 2:6] = 1.0
    pred = torch.randn(2, 1, 8, 8, requires_grad=True)
    target = torch.randn(2, 1, 8, 8)
    masked_pred, masked_target = apply_airfoil_mask(pred, target, x)
    inside = airfoil_mask(x)
    assert torch.all(masked_pred[inside] == 1) and torch.all(masked_target[inside] == 1)
    assert torch.equal(masked_pred[~inside], pred[~inside]) and torch.equal(masked_target[~inside], target[~inside])
    masked_pred.sum().backward()
    assert torch.all(pred.grad[inside] == 0) and torch.all(pred.grad[~inside] == 1)
    assert inside.sum() == 2 * 8
