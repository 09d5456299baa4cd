"""Darcy flow ``-div(a grad u) = f`` on (0,1)^2 with u = 0 on the boundary: vertex-centred finite volumes.

Method: vertex-centred (node-based) finite volumes with harmonic-mean face coefficients
(e.g. Patankar, "Numerical Heat Transfer and Fluid Flow", 1980, ch. 4), solved by a sparse
direct LU factorisation (SuperLU via ``scipy.sparse.linalg.spsolve``).

Grid: nodes ``(x_i, y_j) = (i / N, j / N)``, ``i, j = 0..N``; the unknowns are the interior nodes
``i, j = 1..N-1``, each the centre of the control volume ``[x_i - h/2, x_i + h/2] x [y_j - h/2,
y_j + h/2]`` (``h = 1 / N``); boundary nodes hold ``u = 0``. The flux through the face between
nodes ``P`` and ``E`` is ``-a_PE (u_E - u_P) / h`` times the face length ``h``, with
``a_PE = 2 a_P a_E / (a_P + a_E)`` (exact for a coefficient that is constant on each half of the
segment PE), and the source is ``f_P h^2`` (midpoint rule). Dividing by ``h^2`` gives the
variable-coefficient 5-point scheme, second order for smooth ``a`` and ``f``. The matrix is
symmetric, and positive definite for ``a > 0`` (an irreducibly diagonally dominant M-matrix).

Arrays are indexed ``[y, x]``; ``a`` and ``f`` are given at all ``(N + 1)^2`` nodes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve


def harmonic_mean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise harmonic mean ``2 a b / (a + b)`` of positive arrays."""
    return 2.0 * a * b / (a + b)


def darcy_matrix(a: np.ndarray) -> sp.csc_matrix:
    """The FV matrix of ``-div(a grad .)`` on the interior nodes, row-major over ``[y, x]``.

    Parameters
    ----------
    a : numpy.ndarray
        Positive coefficient at the nodes, shape ``(N + 1, N + 1)`` indexed ``[y, x]``.

    Returns
    -------
    scipy.sparse.csc_matrix
        Symmetric ``(N - 1)^2 x (N - 1)^2`` matrix (already divided by ``h^2``).
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or a.shape[0] < 3:
        raise ValueError(f"coefficient must be a square (N+1, N+1) array with N >= 2, got {a.shape}")
    if not np.all(a > 0):
        raise ValueError("coefficient must be positive at every node")
    n = a.shape[0] - 1
    m = n - 1  # interior nodes per direction
    face_x = harmonic_mean(a[:, 1:], a[:, :-1])  # face between x_i and x_{i+1}: [y, i]
    face_y = harmonic_mean(a[1:, :], a[:-1, :])  # face between y_j and y_{j+1}: [j, x]
    west, east = face_x[1:-1, :-1], face_x[1:-1, 1:]  # (m, m) for interior nodes
    south, north = face_y[:-1, 1:-1], face_y[1:, 1:-1]
    index = np.arange(m * m).reshape(m, m)
    rows = [index.ravel(), index[:, :-1].ravel(), index[:-1, :].ravel()]
    cols = [index.ravel(), index[:, 1:].ravel(), index[1:, :].ravel()]
    vals = [(west + east + south + north).ravel(), -east[:, :-1].ravel(), -north[:-1, :].ravel()]
    # The off-diagonal couplings are added once each way: the matrix is symmetric by construction.
    rows += [cols[1], cols[2]]
    cols += [rows[1], rows[2]]
    vals += [vals[1], vals[2]]
    matrix = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m))
    return (matrix * float(n * n)).tocsc()


def solve_darcy(a: np.ndarray, f: np.ndarray | float = 1.0) -> np.ndarray:
    """Solve ``-div(a grad u) = f``, ``u = 0`` on the boundary, on the nodes of an ``N x N`` mesh.

    Method: vertex-centred finite volumes, harmonic-mean faces, sparse direct solve.

    Parameters
    ----------
    a : numpy.ndarray
        Positive coefficient at the nodes, ``(N + 1, N + 1)`` indexed ``[y, x]``.
    f : numpy.ndarray or float
        Source at the nodes (same shape) or a constant.

    Returns
    -------
    numpy.ndarray
        float64 solution at all nodes, ``(N + 1, N + 1)``, zero on the boundary.
    """
    matrix = darcy_matrix(a)
    n = a.shape[0] - 1
    source = np.broadcast_to(np.asarray(f, dtype=np.float64), a.shape)[1:-1, 1:-1]
    u = np.zeros((n + 1, n + 1))
    u[1:-1, 1:-1] = spsolve(matrix, source.ravel(), permc_spec="MMD_AT_PLUS_A").reshape(n - 1, n - 1)
    return u
