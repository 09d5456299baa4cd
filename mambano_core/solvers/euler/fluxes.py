"""Numerical fluxes of the 2-D Euler equations across a face with unit normal along ``x``.

States are primitive ``(rho, u_n, u_t, p)``: density, velocity normal and tangential to the
face, pressure (ideal gas, ratio of specific heats ``gamma``). Every function returns the flux
``(mass, normal momentum, tangential momentum, energy)`` per unit face area; a solver rotates
``y``-faces by swapping the velocity components.

- :func:`hllc_flux`: HLLC, Toro, Spruce & Speares, Shock Waves 4 (1994); Toro, "Riemann Solvers
  and Numerical Methods for Fluid Dynamics", 3rd ed. (2009), section 10.4, with the wave speed
  estimates ``S_L = min(u_L - c_L, u_R - c_R)``, ``S_R = max(u_L + c_L, u_R + c_R)`` (Davis 1988)
  and Toro's contact speed ``S*``.
- :func:`rusanov_flux`: local Lax-Friedrichs (Rusanov 1961), Toro (2009) section 10.5.1.

The functions are compiled with numba (``njit``) and called from the solver's loops; they also
run on scalars from Python.
"""

from __future__ import annotations

import math

from numba import njit

#: Flux ids understood by the solver kernels.
FLUXES = {"hllc": 0, "rusanov": 1}


@njit(cache=True, inline="always")
def physical_flux(rho: float, un: float, ut: float, p: float, gamma: float) -> tuple[float, float, float, float]:
    """Euler flux ``F(W)`` normal to the face for the primitive state ``W``."""
    energy = p / (gamma - 1.0) + 0.5 * rho * (un * un + ut * ut)
    mass = rho * un
    return mass, mass * un + p, mass * ut, un * (energy + p)


@njit(cache=True, inline="always")
def hllc_flux(
    rl: float, ul: float, vl: float, pl: float, rr: float, ur: float, vr: float, pr: float, gamma: float
) -> tuple[float, float, float, float]:
    """HLLC flux (Toro, Spruce & Speares 1994; Toro 2009, section 10.4) between ``L`` and ``R``."""
    cl = math.sqrt(gamma * pl / rl)
    cr = math.sqrt(gamma * pr / rr)
    sl = min(ul - cl, ur - cr)
    sr = max(ul + cl, ur + cr)
    if sl >= 0.0:
        return physical_flux(rl, ul, vl, pl, gamma)
    if sr <= 0.0:
        return physical_flux(rr, ur, vr, pr, gamma)
    sm = (pr - pl + rl * ul * (sl - ul) - rr * ur * (sr - ur)) / (rl * (sl - ul) - rr * (sr - ur))
    if sm >= 0.0:
        rho, un, ut, p, s = rl, ul, vl, pl, sl
    else:
        rho, un, ut, p, s = rr, ur, vr, pr, sr
    f0, f1, f2, f3 = physical_flux(rho, un, ut, p, gamma)
    energy = p / (gamma - 1.0) + 0.5 * rho * (un * un + ut * ut)
    factor = rho * (s - un) / (s - sm)
    star_e = factor * (energy / rho + (sm - un) * (sm + p / (rho * (s - un))))
    return (
        f0 + s * (factor - rho),
        f1 + s * (factor * sm - rho * un),
        f2 + s * (factor * ut - rho * ut),
        f3 + s * (star_e - energy),
    )


@njit(cache=True, inline="always")
def rusanov_flux(
    rl: float, ul: float, vl: float, pl: float, rr: float, ur: float, vr: float, pr: float, gamma: float
) -> tuple[float, float, float, float]:
    """Rusanov (local Lax-Friedrichs) flux (Rusanov 1961; Toro 2009, section 10.5.1)."""
    smax = max(abs(ul) + math.sqrt(gamma * pl / rl), abs(ur) + math.sqrt(gamma * pr / rr))
    fl0, fl1, fl2, fl3 = physical_flux(rl, ul, vl, pl, gamma)
    fr0, fr1, fr2, fr3 = physical_flux(rr, ur, vr, pr, gamma)
    el = pl / (gamma - 1.0) + 0.5 * rl * (ul * ul + vl * vl)
    er = pr / (gamma - 1.0) + 0.5 * rr * (ur * ur + vr * vr)
    return (
        0.5 * (fl0 + fr0) - 0.5 * smax * (rr - rl),
        0.5 * (fl1 + fr1) - 0.5 * smax * (rr * ur - rl * ul),
        0.5 * (fl2 + fr2) - 0.5 * smax * (rr * vr - rl * vl),
        0.5 * (fl3 + fr3) - 0.5 * smax * (er - el),
    )


@njit(cache=True, inline="always")
def face_flux(
    kind: int, rl: float, ul: float, vl: float, pl: float, rr: float, ur: float, vr: float, pr: float, gamma: float
) -> tuple[float, float, float, float]:
    """The flux ``kind`` (:data:`FLUXES`): 0 = HLLC, 1 = Rusanov."""
    if kind == 0:
        return hllc_flux(rl, ul, vl, pl, rr, ur, vr, pr, gamma)
    return rusanov_flux(rl, ul, vl, pl, rr, ur, vr, pr, gamma)
