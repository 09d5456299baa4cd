"""Verification of the numerical solvers behind benchmarks 5-7: exact solutions, convergence orders,
conservation and structure properties (all small grids, seconds in total)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.fft import dct
from scipy.integrate import solve_ivp

from mambano_core.data.benchmarks.allen_cahn import AllenCahn
from mambano_core.data.benchmarks.navier_stokes import NavierStokes
from mambano_core.data.benchmarks.sines import evaluate_sine_series
from mambano_core.solvers.allen_cahn import reaction_step, sine_values, solve_allen_cahn
from mambano_core.solvers.darcy_fv import darcy_matrix, solve_darcy
from mambano_core.solvers.grf import draw_grf_coefficients, evaluate_grf, grf_std
from mambano_core.solvers.spectral_ns import (
    divergence,
    kinetic_energy,
    make_grid,
    solve_vorticity,
    to_field,
    to_spectrum,
    velocity,
)

EPS, T_AC = 220.0, 2e-4


def observed_orders(errors: list[float]) -> np.ndarray:
    """log2 of successive error ratios (the refinement factor is 2)."""
    e = np.asarray(errors)
    return np.log2(e[:-1] / e[1:])


# --- Allen-Cahn -------------------------------------------------------------------------------


def test_reaction_step_is_the_exact_flow() -> None:
    u0 = np.array([-1.5, -1.0, -0.4, -1e-3, 0.0, 2e-3, 0.3, 0.99, 1.0, 1.2])
    dt = 3e-5
    ode = solve_ivp(lambda _, u: -(EPS**2) * u * (u * u - 1), (0, dt), u0, rtol=1e-12, atol=1e-14, method="DOP853")
    np.testing.assert_allclose(reaction_step(u0, EPS, dt), ode.y[:, -1], rtol=1e-9, atol=1e-12)
    inside = reaction_step(np.linspace(-1, 1, 1001), EPS, 1e-3)
    assert np.abs(inside).max() <= 1.0
    assert np.all(reaction_step(np.array([-1.0, 0.0, 1.0]), EPS, 1.0) == [-1.0, 0.0, 1.0])


def test_heat_step_is_exact_without_reaction() -> None:
    coeffs = np.random.default_rng(0).uniform(-1, 1, size=(12, 12))
    k2 = np.arange(1, 13) ** 2
    exact = coeffs * np.exp(-(np.pi**2) * 0.01 * (k2[:, None] + k2[None, :]))
    result = solve_allen_cahn(coeffs, eps=0.0, t_final=0.01, n=32, n_steps=3)
    np.testing.assert_allclose(result[:12, :12], exact, atol=1e-15)
    assert np.abs(result[12:, :]).max() < 1e-15 and np.abs(result[:, 12:]).max() < 1e-15


def _allen_cahn_initial(seed: int = 3) -> np.ndarray:
    return AllenCahn().initial_coefficients(seed, "id")[0]


def test_allen_cahn_second_order_in_time() -> None:
    coeffs = _allen_cahn_initial()
    reference = evaluate_sine_series(solve_allen_cahn(coeffs, EPS, T_AC, 64, 1280), 64)
    errors = [
        np.abs(evaluate_sine_series(solve_allen_cahn(coeffs, EPS, T_AC, 64, n), 64) - reference).max()
        for n in (20, 40, 80)
    ]
    orders = observed_orders(errors)
    assert np.all((orders > 1.9) & (orders < 2.1)), (errors, orders)


def test_allen_cahn_spectral_convergence_in_space() -> None:
    coeffs = _allen_cahn_initial()
    reference = evaluate_sine_series(solve_allen_cahn(coeffs, EPS, T_AC, 512, 40), 64)
    errors = [
        np.abs(evaluate_sine_series(solve_allen_cahn(coeffs, EPS, T_AC, n, 40), 64) - reference).max()
        for n in (64, 128, 256)
    ]
    assert errors[0] > errors[1] > errors[2]
    assert errors[1] / errors[2] > 30  # faster than any fixed algebraic order once the interfaces are resolved
    assert errors[2] < 1e-4, errors


@pytest.mark.parametrize("distribution", ["id", "ood"])
def test_allen_cahn_max_principle(distribution: str) -> None:
    """|u0| <= 1 gives |u(T)| <= 1, up to the spectral error of the resolved interfaces."""
    coeffs = AllenCahn().initial_coefficients(1, distribution)[0]  # type: ignore[arg-type]
    for scale in (1.0, 1.0 / np.abs(evaluate_sine_series(coeffs, 256)).max()):  # the data, and |u0|max = 1
        final = sine_values(solve_allen_cahn(coeffs * scale, EPS, T_AC, 256, 200))
        assert np.abs(final).max() <= 1.0 + 5e-5
    assert np.abs(final).max() > 0.99  # the scaled run reaches the phases +-1


# --- Navier-Stokes ----------------------------------------------------------------------------


def _taylor_green(n: int, amplitude: float, kx: int, ky: int) -> tuple[np.ndarray, float]:
    """Vorticity of psi = A sin(2 pi kx x) cos(2 pi ky y) on the n grid, and |k|^2."""
    x = np.arange(n) / n
    k2 = (2 * np.pi) ** 2 * (kx**2 + ky**2)
    return amplitude * k2 * np.sin(2 * np.pi * kx * x)[None, :] * np.cos(2 * np.pi * ky * x)[:, None], k2


def test_taylor_green_decays_exactly() -> None:
    """A Taylor-Green cell is a steady Euler flow: its amplitude decays as exp(-nu |k|^2 t)."""
    grid, nu, t_final = make_grid(32), 0.01, 0.7
    w0, k2 = _taylor_green(32, 0.05, 2, 1)
    w_hat, steps = solve_vorticity(to_spectrum(w0, grid), grid, nu, t_final, cfl=1.0)
    np.testing.assert_allclose(to_field(w_hat, grid), w0 * np.exp(-nu * k2 * t_final), atol=1e-12 * np.abs(w0).max())
    energy = kinetic_energy(w_hat, grid) / kinetic_energy(to_spectrum(w0, grid), grid)
    np.testing.assert_allclose(energy, np.exp(-2 * nu * k2 * t_final), rtol=1e-12)
    assert steps > 5


def test_translating_taylor_green_fourth_order() -> None:
    """With a mean flow (U, V) the cell is advected: w(x, t) = w0(x - U t, y - V t) exp(-nu |k|^2 t)."""
    n, nu, t_final, mean = 32, 0.01, 1.0, (0.3, -0.2)
    grid = make_grid(n)
    w0, k2 = _taylor_green(n, 0.05, 2, 1)
    x = np.arange(n) / n
    exact = 0.05 * k2 * np.outer(np.cos(2 * np.pi * (x + 0.2)), np.sin(2 * np.pi * 2 * (x - 0.3))) * np.exp(-nu * k2)
    errors = []
    for n_steps in (10, 20, 40):
        w_hat, _ = solve_vorticity(to_spectrum(w0, grid), grid, nu, t_final, mean=mean, n_steps=n_steps)
        errors.append(np.abs(to_field(w_hat, grid) - exact).max() / np.abs(exact).max())
    orders = observed_orders(errors)
    assert np.all((orders > 3.7) & (orders < 4.3)), (errors, orders)


def test_shear_layer_divergence_free_and_energy_dissipation() -> None:
    """Divergence at round-off; E non-increasing with dE/dt = -nu int w^2 (the nonlinear term conserves E)."""
    bench = NavierStokes(solver_resolution=64)
    w_hat, mean, grid = bench.initial_state(bench.draw_params(1, "id"), "id")
    u0, v0 = velocity(w_hat, grid, mean)
    assert np.abs(divergence(u0, v0)).max() < 1e-11 * np.abs(u0).max() * grid.n
    times, energies, enstrophies = [], [], []

    def record(t: float, state: np.ndarray) -> None:
        times.append(t)
        energies.append(kinetic_energy(state, grid, mean))
        enstrophies.append(float(np.mean(to_field(state, grid) ** 2)))

    w_final, _ = solve_vorticity(w_hat, grid, 4e-4, 0.2, mean=mean, callback=record)
    u, v = velocity(w_final, grid, mean)
    assert np.abs(divergence(u, v)).max() < 1e-11 * np.abs(u).max() * grid.n
    changes = np.diff(energies)
    assert np.all(changes < 0)
    rate = changes / np.diff(times)
    dissipation = -4e-4 * 0.5 * (np.array(enstrophies[1:]) + np.array(enstrophies[:-1]))
    np.testing.assert_allclose(rate, dissipation, rtol=5e-3)
    # Inviscid: the dealiased (Galerkin) advection conserves energy exactly, so the only loss is
    # RK4's own damping, O(dt^5) per unit time: halving the step divides it by about 32.
    drift = []
    for cfl in (1.0, 0.5):
        inviscid: list[float] = []

        def record_inviscid(t: float, state: np.ndarray, energies: list[float] = inviscid) -> None:
            energies.append(kinetic_energy(state, grid, mean))

        solve_vorticity(w_hat, grid, 0.0, 0.05, mean=mean, cfl=cfl, callback=record_inviscid)
        assert np.all(np.diff(inviscid) <= 0)
        drift.append((inviscid[0] - inviscid[-1]) / inviscid[0])
    assert drift[0] < 1e-5 and drift[0] / drift[1] > 20, drift


def test_fine_initial_sampling_matches_solver_grid() -> None:
    """Sampling a band-limited field on a finer grid gives the same retained spectrum."""
    grid = make_grid(32)
    x = np.arange(32) / 32
    xf = np.arange(96) / 96

    def field(s: np.ndarray) -> np.ndarray:
        return np.sin(6 * np.pi * s)[None, :] * np.cos(10 * np.pi * s)[:, None] + np.cos(20 * np.pi * s)[:, None]

    np.testing.assert_allclose(to_spectrum(field(xf), grid), to_spectrum(field(x), grid), atol=1e-12)


# --- Darcy ------------------------------------------------------------------------------------


def _manufactured(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """u = sin(pi x) sin(pi y) e^(xy), a = 2 + cos(pi x) sin(2 pi y), f = -div(a grad u) at the nodes."""
    x = np.arange(n + 1) / n
    xx, yy = x[None, :], x[:, None]
    pi = np.pi
    e, sx, cx, sy, cy = np.exp(xx * yy), np.sin(pi * xx), np.cos(pi * xx), np.sin(pi * yy), np.cos(pi * yy)
    u = sx * sy * e
    u_x, u_y = (pi * cx * sy + yy * sx * sy) * e, (pi * sx * cy + xx * sx * sy) * e
    u_xx = (-(pi**2) * sx * sy + 2 * pi * yy * cx * sy + yy**2 * sx * sy) * e
    u_yy = (-(pi**2) * sx * sy + 2 * pi * xx * sx * cy + xx**2 * sx * sy) * e
    a = 2 + cx * np.sin(2 * pi * yy)
    a_x, a_y = -pi * sx * np.sin(2 * pi * yy), 2 * pi * cx * np.cos(2 * pi * yy)
    return a, -(a * (u_xx + u_yy) + a_x * u_x + a_y * u_y), u


def test_darcy_fv_second_order_manufactured() -> None:
    errors = []
    for n in (16, 32, 64):
        a, f, u = _manufactured(n)
        errors.append(np.abs(solve_darcy(a, f) - u).max())
    orders = observed_orders(errors)
    assert np.all((orders > 1.9) & (orders < 2.1)), (errors, orders)


def _layered(n: int, a_left: float = 3.0, a_right: float = 12.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a = a_left for x < 1/2, a_right for x > 1/2 (a face midpoint for odd n); u = g(x) sin(pi y).

    g' = (cos(pi x) + c) / a with c such that g(1) = 0, so the flux a g' is continuous and
    -div(a grad u) = (pi sin(pi x) + a pi^2 g) sin(pi y).
    """
    x = np.arange(n + 1) / n
    c = -(1 / a_left - 1 / a_right) / np.pi / (0.5 / a_left + 0.5 / a_right)
    left = x < 0.5
    a = np.where(left, a_left, a_right)
    g_half = (1 / np.pi + 0.5 * c) / a_left
    g = np.where(
        left,
        (np.sin(np.pi * x) / np.pi + c * x) / a_left,
        g_half + ((np.sin(np.pi * x) - 1) / np.pi + c * (x - 0.5)) / a_right,
    )
    sin_y = np.sin(np.pi * x)[:, None]
    f = (np.pi * np.sin(np.pi * x) + a * np.pi**2 * g)[None, :] * sin_y
    return np.broadcast_to(a[None, :], (n + 1, n + 1)), f, g[None, :] * sin_y


def test_darcy_fv_second_order_across_a_coefficient_jump() -> None:
    """Harmonic-mean faces keep second order when a jumps (3 -> 12) at a face; arithmetic means would not."""
    errors = []
    for n in (9, 27, 81):
        a, f, u = _layered(n)
        errors.append(np.abs(solve_darcy(a, f) - u).max())
    orders = np.log(np.asarray(errors[:-1]) / errors[1:]) / np.log(3)
    assert np.all(orders > 1.9), (errors, orders)


def test_darcy_matrix_symmetric_positive_definite() -> None:
    rng = np.random.default_rng(0)
    a = np.where(rng.standard_normal((9, 9)) > 0, 12.0, 3.0)
    dense = darcy_matrix(a).toarray()
    assert dense.shape == (49, 49)
    np.testing.assert_array_equal(dense, dense.T)
    np.linalg.cholesky(dense)  # raises LinAlgError unless positive definite
    assert np.linalg.eigvalsh(dense).min() > 0
    with pytest.raises(ValueError, match="positive"):
        darcy_matrix(a - 3.0)


def test_darcy_fv_constant_coefficient_matches_poisson_scaling() -> None:
    """For a = c constant the solution is u_1 / c, with u_1 the solution for a = 1."""
    ones = np.ones((33, 33))
    np.testing.assert_allclose(solve_darcy(12.0 * ones), solve_darcy(ones) / 12.0, rtol=1e-12)


@pytest.mark.parametrize(("tau", "drop"), [(3.0, True), (4.0, False)])
def test_grf_spectrum_matches_covariance(tau: float, drop: bool) -> None:
    """DCT-I of fields evaluated at the nodes recovers coefficients with variance lambda^(-alpha)."""
    n_modes, n, n_samples = 12, 16, 1500
    rng = np.random.default_rng(1)
    coeffs = np.stack([draw_grf_coefficients(rng, n_modes, tau, 2.0, drop) for _ in range(n_samples)])
    fields = np.stack([evaluate_grf(c, n, n + 1) for c in coeffs])
    recovered = dct(dct(fields, type=1, axis=-1), type=1, axis=-2) / (2 * n) ** 2 * 4  # cosine amplitudes
    scale = np.where(
        np.arange(n_modes) == 0, 0.5, 1 / np.sqrt(2)
    )  # amplitude -> KL coefficient (phi_0 = 1, phi_k = sqrt 2 cos)
    recovered = recovered[:, :n_modes, :n_modes] * scale[:, None] * scale[None, :]
    empirical = recovered.var(axis=0)
    prescribed = grf_std(n_modes, tau, 2.0, drop) ** 2
    if drop:
        assert empirical[0, 0] < 1e-28
        empirical, prescribed = empirical.ravel()[1:], prescribed.ravel()[1:]
    ratio = empirical / prescribed
    assert abs(ratio.mean() - 1) < 0.02 and np.abs(ratio - 1).max() < 0.2
    # Pointwise covariance between two points against the kernel sum_k lambda_k^-2 phi_k(p) phi_k(q).
    p, q = (3, 5), (4, 9)  # [y, x] node indices

    def phi(index: int) -> np.ndarray:
        k = np.arange(n_modes)
        return np.where(k == 0, 1.0, np.sqrt(2) * np.cos(np.pi * k * index / n))

    weights = grf_std(n_modes, tau, 2.0, drop) ** 2
    kernel = np.einsum("ji,j,i,j,i->", weights, phi(p[0]), phi(p[1]), phi(q[0]), phi(q[1]))
    at_p, at_q = fields[:, p[0], p[1]], fields[:, q[0], q[1]]
    empirical_cov = np.mean(at_p * at_q)
    sd = np.sqrt((np.mean(at_p**2) * np.mean(at_q**2) + empirical_cov**2) / n_samples)
    assert abs(empirical_cov - kernel) < 4 * sd
    assert abs(np.mean(at_p**2) - np.einsum("ji,j,i->", weights, phi(p[0]) ** 2, phi(p[1]) ** 2)) < 0.15 * np.mean(
        at_p**2
    )
