"""MUSCL reconstruction with slope limiters on non-uniform 1-D stencils.

van Leer, "Towards the ultimate conservative difference scheme V. A second-order sequel to
Godunov's method", J. Comput. Phys. 32 (1979): a cell value ``q_i`` and a limited slope ``s_i``
give the face values ``q_i -/+ s_i dx_i / 2``. The slope limits the one-sided differences
``d- = (q_i - q_{i-1}) / (x_i - x_{i-1})`` and ``d+ = (q_{i+1} - q_i) / (x_{i+1} - x_i)`` (centre
distances, so stretched grids are handled):

- ``minmod``: the smaller one-sided slope in magnitude if both have the same sign, else 0
  (Roe 1986);
- ``van Leer``: the harmonic mean ``2 d- d+ / (d- + d+)`` if they have the same sign, else 0
  (van Leer 1974);
- ``van Albada``: ``(d+ (d-^2 + e) + d- (d+^2 + e)) / (d-^2 + d+^2 + 2 e)`` with a tiny ``e``
  (van Albada, van Leer & Roberts, Astron. Astrophys. 108 (1982)), used without clipping at
  extrema: a smooth function of the data, which lets steady iterations converge to round-off
  where switching limiters stall. It is not strictly TVD: at an extremum the slope takes the
  sign of the smaller one-sided slope with at most half the larger magnitude.

The van Albada slope is a weighted mean ``w d- + (1 - w) d+`` with
``w = (d+^2 + e) / (d-^2 + d+^2 + 2 e)`` (:func:`albada_weight`); freezing ``w`` makes the scheme
linear in the data, which the steady solver uses to end a limit cycle at a shock (limiter
freezing, Venkatakrishnan, J. Comput. Phys. 118 (1995)).

``minmod`` and ``van Leer`` give face values between the neighbouring cell values on a uniform
grid (TVD); they are used for the shock-tube checks.
"""

from __future__ import annotations

from numba import njit

#: Regularisation of the van Albada limiter (slopes are O(1) per chord in the benchmark).
ALBADA_EPS2 = 1e-12
#: Limiter ids understood by the solver kernels; ``none`` gives the first-order scheme.
LIMITERS = {"none": 0, "minmod": 1, "van_leer": 2, "van_albada": 3}


@njit(cache=True, inline="always")
def limited_slope(kind: int, dm: float, dp: float) -> float:
    """The limited slope of :data:`LIMITERS` ``kind`` from the one-sided slopes ``dm``, ``dp``."""
    if kind == 0:
        return 0.0
    if kind == 3:
        return (dp * (dm * dm + ALBADA_EPS2) + dm * (dp * dp + ALBADA_EPS2)) / (dm * dm + dp * dp + 2.0 * ALBADA_EPS2)
    if dm * dp <= 0.0:
        return 0.0
    if kind == 1:
        return dm if abs(dm) < abs(dp) else dp
    return 2.0 * dm * dp / (dm + dp)


@njit(cache=True, inline="always")
def albada_weight(dm: float, dp: float) -> float:
    """The weight ``w`` of ``dm`` in the van Albada slope ``w dm + (1 - w) dp``."""
    return (dp * dp + ALBADA_EPS2) / (dm * dm + dp * dp + 2.0 * ALBADA_EPS2)
