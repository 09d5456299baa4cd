"""Exact solution of the Riemann problem of the 1-D Euler equations (ideal gas).

Toro, "Riemann Solvers and Numerical Methods for Fluid Dynamics", 3rd ed. (2009), chapter 4:
the star pressure is the root of ``f_L(p) + f_R(p) + u_R - u_L = 0`` (shock or rarefaction
branches of Toro's pressure functions), found by Newton's method from the two-rarefaction guess, and the
solution is sampled at ``x / t`` (section 4.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class StarState:
    """Pressure and velocity between the nonlinear waves, and the star densities."""

    p: float
    u: float
    rho_left: float
    rho_right: float


def _pressure_function(p: float, rho: float, pk: float, gamma: float) -> tuple[float, float]:
    """Toro's pressure function ``f_K(p)`` (shock or rarefaction branch) and its derivative."""
    c = math.sqrt(gamma * pk / rho)
    if p > pk:  # shock
        a, b = 2.0 / ((gamma + 1.0) * rho), (gamma - 1.0) / (gamma + 1.0) * pk
        root = math.sqrt(a / (p + b))
        return (p - pk) * root, root * (1.0 - 0.5 * (p - pk) / (b + p))
    ratio = p / pk  # rarefaction
    return 2.0 * c / (gamma - 1.0) * (ratio ** ((gamma - 1.0) / (2.0 * gamma)) - 1.0), \
        ratio ** (-(gamma + 1.0) / (2.0 * gamma)) / (rho * c)


def star_state(left: tuple[float, float, float], right: tuple[float, float, float], gamma: float = 1.4) -> StarState:
    """Star-region state of the Riemann problem with primitive states ``(rho, u, p)`` (Toro, section 4.3)."""
    rl, ul, pl = left
    rr, ur, pr = right
    cl, cr = math.sqrt(gamma * pl / rl), math.sqrt(gamma * pr / rr)
    if 2.0 * (cl + cr) / (gamma - 1.0) <= ur - ul:
        raise ValueError("the data generate vacuum")
    z = (gamma - 1.0) / (2.0 * gamma)
    p = ((cl + cr - 0.5 * (gamma - 1.0) * (ur - ul)) / (cl / pl**z + cr / pr**z)) ** (1.0 / z)
    for _ in range(100):
        fl, dl = _pressure_function(p, rl, pl, gamma)
        fr, dr = _pressure_function(p, rr, pr, gamma)
        step = (fl + fr + ur - ul) / (dl + dr)
        p_new = max(p - step, 1e-12 * p)
        done = abs(p_new - p) <= 1e-14 * 0.5 * (p_new + p)
        p = p_new
        if done:
            break
    fl, _ = _pressure_function(p, rl, pl, gamma)
    fr, _ = _pressure_function(p, rr, pr, gamma)
    u = 0.5 * (ul + ur) + 0.5 * (fr - fl)
    g = (gamma - 1.0) / (gamma + 1.0)

    def star_density(rho: float, pk: float) -> float:
        if p > pk:
            return rho * (p / pk + g) / (g * p / pk + 1.0)
        return rho * (p / pk) ** (1.0 / gamma)

    return StarState(p, u, star_density(rl, pl), star_density(rr, pr))


def sample_riemann(
    left: tuple[float, float, float], right: tuple[float, float, float], xi: np.ndarray, gamma: float = 1.4
) -> np.ndarray:
    """Exact solution ``(rho, u, p)`` at the similarity coordinates ``xi = x / t`` (Toro, section 4.5).

    Parameters
    ----------
    left, right : tuple of float
        Primitive states ``(rho, u, p)`` left and right of the initial discontinuity at ``x = 0``.
    xi : numpy.ndarray
        Points ``x / t``.
    gamma : float
        Ratio of specific heats.

    Returns
    -------
    numpy.ndarray
        Shape ``(3,) + xi.shape``.
    """
    star = star_state(left, right, gamma)
    xi = np.asarray(xi, dtype=np.float64)
    out = np.empty((3,) + xi.shape)
    for side, (rho, u, p), rho_star, sign in ((0, left, star.rho_left, 1.0), (1, right, star.rho_right, -1.0)):
        sel = xi < star.u if side == 0 else xi >= star.u
        c = math.sqrt(gamma * p / rho)
        s = sign * xi[sel]  # mirror the right side onto the left-wave formulas
        un, us = sign * u, sign * star.u
        rho_s = np.full(s.shape, rho_star)
        u_s = np.full(s.shape, star.u)
        p_s = np.full(s.shape, star.p)
        if star.p > p:  # shock
            speed = un - c * math.sqrt((gamma + 1.0) / (2.0 * gamma) * star.p / p + (gamma - 1.0) / (2.0 * gamma))
            outside = s < speed
        else:  # rarefaction: head, tail and fan
            c_star = c * (star.p / p) ** ((gamma - 1.0) / (2.0 * gamma))
            head, tail = un - c, us - c_star
            outside = s < head
            fan = (s >= head) & (s < tail)
            cf = 2.0 / (gamma + 1.0) * (c + 0.5 * (gamma - 1.0) * (un - s[fan]))
            rho_s[fan] = rho * (cf / c) ** (2.0 / (gamma - 1.0))
            u_s[fan] = sign * 2.0 / (gamma + 1.0) * (c + 0.5 * (gamma - 1.0) * un + s[fan])
            p_s[fan] = p * (cf / c) ** (2.0 * gamma / (gamma - 1.0))
        rho_s[outside], u_s[outside], p_s[outside] = rho, u, p
        out[0][sel], out[1][sel], out[2][sel] = rho_s, u_s, p_s
    return out
