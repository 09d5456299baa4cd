"""Stretched Cartesian grids and the immersed-boundary (ghost-cell) description of a body.

A grid is the tensor product of two 1-D node sets: uniform spacing ``h`` in a core interval and
cells growing geometrically (ratio ``r``) outwards until the far-field extent is reached. Cell
arrays carry two layers of boundary ghost cells on every side (``NG = 2``, the MUSCL stencil),
so interior cell ``(j, i)`` of an ``ny x nx`` grid is entry ``(j + 2, i + 2)``.

Cells whose centre lies inside the body are solid, and so is, in every column over the
chord, the cell holding the mid-point between the two surfaces (thin trailing edges stay
closed). Solid cells next to a fluid cell are *wall ghost cells*: the state a fluid neighbour
sees there is the mirror image of the flow at the image point ``2 b - g`` (``b`` the surface
point closest to the ghost centre ``g`` on the surface facing that neighbour; one cell out along
the normal if ``g`` is a blocked cell outside the body), with the normal velocity reversed -
the ghost-cell slip wall of e.g. Forrer & Jeltsch, J. Comput. Phys. 140 (1998) and Tseng &
Ferziger, J. Comput. Phys. 192 (2003). The image state is the bilinear
interpolant of the surrounding cell centres restricted to fluid cells (weights renormalised).
Ghost states are kept per direction (:class:`Body`), so a ghost between two thin sides serves
both correctly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mambano_core.solvers.euler.geometry import Airfoil, closest_surface_points, surface_curvature

NG = 2  # boundary ghost layers
FLUID, DEAD, WALL_GHOST, EDGE_GHOST = 1, 0, 2, 3


def stretched_axis(
    core: tuple[float, float], h: float, extent: tuple[float, float], ratio: float, multiple: int = 1
) -> np.ndarray:
    """Nodes: uniform spacing ``~h`` on ``core``, geometric growth ``ratio`` out to ``extent``.

    Parameters
    ----------
    core : tuple of float
        ``(lo, hi)`` of the uniform part; ``h`` is adjusted so that it holds a whole number of cells.
    h : float
        Target core spacing.
    extent : tuple of float
        The grid reaches at least ``extent[0]`` and ``extent[1]`` (``<= lo``, ``>= hi``).
    ratio : float
        Growth factor of consecutive cell widths outside the core (``>= 1``).
    multiple : int
        The number of cells is made a multiple of this (extra stretched cells at the ends), so
        that the grid can be coarsened by taking every ``2^k``-th node.

    Returns
    -------
    numpy.ndarray
        Increasing node coordinates.
    """
    lo, hi = core
    if not (extent[0] <= lo < hi <= extent[1]) or ratio < 1.0 or h <= 0:
        raise ValueError(f"invalid axis: core {core}, extent {extent}, h {h}, ratio {ratio}")
    n_core = max(1, int(round((hi - lo) / h)))
    h = (hi - lo) / n_core

    def outward(distance: float) -> list[float]:
        widths, total = [], 0.0
        while total < distance - 1e-12:
            widths.append(h * ratio ** (len(widths) + 1))
            total += widths[-1]
        return widths

    left, right = outward(lo - extent[0]), outward(extent[1] - hi)
    while (n_core + len(left) + len(right)) % multiple:
        side = left if len(left) <= len(right) else right
        side.append(h * ratio ** (len(side) + 1))
    nodes = np.concatenate([lo - np.cumsum(left)[::-1], lo + h * np.arange(n_core + 1), hi + np.cumsum(right)])
    return nodes


def padded_centres(nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres and widths of the cells between ``nodes`` with ``NG`` mirrored ghost cells each side."""
    width = np.diff(nodes)
    width = np.concatenate([width[NG - 1 :: -1], width, width[: -NG - 1 : -1]])
    left = nodes[0] - width[:NG].sum()
    edges = left + np.concatenate([[0.0], np.cumsum(width)])
    return 0.5 * (edges[1:] + edges[:-1]), width


@dataclass(frozen=True)
class Grid:
    """A tensor-product Cartesian grid with ``NG`` boundary ghost layers.

    ``xc``, ``dx`` (length ``nx + 2 NG``) and ``yc``, ``dy`` (``ny + 2 NG``) are the padded cell
    centres and widths; arrays over cells are indexed ``[y, x]``.
    """

    x_nodes: np.ndarray
    y_nodes: np.ndarray
    xc: np.ndarray
    dx: np.ndarray
    yc: np.ndarray
    dy: np.ndarray

    @classmethod
    def from_nodes(cls, x_nodes: np.ndarray, y_nodes: np.ndarray) -> Grid:
        """The grid with these node coordinates."""
        xc, dx = padded_centres(np.asarray(x_nodes, dtype=np.float64))
        yc, dy = padded_centres(np.asarray(y_nodes, dtype=np.float64))
        return cls(np.asarray(x_nodes, dtype=np.float64), np.asarray(y_nodes, dtype=np.float64), xc, dx, yc, dy)

    @property
    def shape(self) -> tuple[int, int]:
        """Padded ``(NY, NX)``."""
        return self.yc.size, self.xc.size

    def coarsened(self) -> Grid:
        """The grid made of every other node (each coarse cell is 2 x 2 fine cells)."""
        if (self.x_nodes.size - 1) % 2 or (self.y_nodes.size - 1) % 2:
            raise ValueError("a grid with an odd number of cells cannot be coarsened")
        return Grid.from_nodes(self.x_nodes[::2], self.y_nodes[::2])


#: Directions of a wall ghost's fluid neighbour: (j offset, i offset) of WEST, EAST, SOUTH, NORTH.
DIRECTIONS = ((0, -1), (0, 1), (-1, 0), (1, 0))
_SURFACE_SEEN = ("both", "both", "lower", "upper")  # the surface between a ghost and that neighbour


def _wall_points(
    airfoil: Airfoil, gx: np.ndarray, gy: np.ndarray, side: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Wall point and outward normal for ghosts at ``(gx, gy)`` seen across ``side`` of the surface.

    For ``side = "both"`` (neighbours along ``x``), the closest points ``b_u``, ``b_l`` on the two
    surfaces, at distances ``d_u``, ``d_l``, are blended with weights ``d_l^2 / (d_u^2 + d_l^2)``
    and ``d_u^2 / (d_u^2 + d_l^2)``: the nearer surface where the airfoil is thick, and the
    bisector at a thin trailing edge (the wall a downstream neighbour sees is the edge's base, not
    one of the surfaces), symmetric for symmetric shapes at both edges.
    """
    if side != "both":
        return closest_surface_points(airfoil, gx, gy, side)
    ux, uy, unx, uny = closest_surface_points(airfoil, gx, gy, "upper")
    lx, ly, lnx, lny = closest_surface_points(airfoil, gx, gy, "lower")
    du, dl = np.hypot(gx - ux, gy - uy), np.hypot(gx - lx, gy - ly)
    w = dl**2 / np.maximum(du**2 + dl**2, 1e-300)  # weight of the upper surface
    nx, ny = w * unx + (1 - w) * lnx, w * uny + (1 - w) * lny
    norm = np.maximum(np.hypot(nx, ny), 1e-12)
    return w * ux + (1 - w) * lx, w * uy + (1 - w) * ly, nx / norm, ny / norm


@dataclass(frozen=True)
class Body:
    """Cell classification and wall-ghost stencils of a body on a grid.

    ``kind[j, i]`` is ``FLUID``, ``DEAD`` (solid, not next to a fluid cell), ``WALL_GHOST``
    (solid, with a fluid neighbour) or ``EDGE_GHOST`` (the boundary layers). Entry ``k`` of the
    ghost arrays is the state of ghost ``(gj[k], gi[k])`` *as seen from* its fluid neighbour in
    direction ``gdir[k]`` (:data:`DIRECTIONS`): the mirror, about the surface normal
    ``normal[k]``, of the image state ``sum_m sw[k, m] W[:, sj[k, m], si[k, m]]``.
    ``curvature[k]`` is the wall's curvature at the mirror's wall point (positive where convex)
    and ``span[k]`` the distance from the ghost to its image point along the normal (for the
    curvature-corrected ghost states, :func:`.kernels.fill_wall_ghosts`).
    """

    kind: np.ndarray
    gj: np.ndarray
    gi: np.ndarray
    gdir: np.ndarray
    sj: np.ndarray
    si: np.ndarray
    sw: np.ndarray
    normal: np.ndarray
    curvature: np.ndarray
    span: np.ndarray


def _solid_cells(grid: Grid, airfoil: Airfoil | None) -> np.ndarray:
    shape = grid.shape
    if airfoil is None:
        return np.zeros(shape, dtype=bool)
    xx, yy = np.meshgrid(grid.xc, grid.yc)
    solid = airfoil.contains(xx, yy)
    # The mean line blocks every column over the chord, so thin parts (the trailing edge)
    # cannot leak: the cell holding the mid-point between the surfaces is solid.
    columns = np.nonzero((grid.xc > 0.0) & (grid.xc < 1.0))[0]
    xm = grid.xc[columns]
    ym = 0.5 * (airfoil.upper(xm) + airfoil.lower(xm))
    solid[np.searchsorted(grid.yc + 0.5 * grid.dy, ym), columns] = True
    solid[:NG, :] = solid[-NG:, :] = False
    solid[:, :NG] = solid[:, -NG:] = False
    return solid


def _image_stencils(grid: Grid, fluid: np.ndarray, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, ...]:
    """Bilinear stencils (fluid cells only, renormalised) of the points ``(px, py)``."""
    i0 = np.clip(np.searchsorted(grid.xc, px) - 1, 0, grid.xc.size - 2)
    j0 = np.clip(np.searchsorted(grid.yc, py) - 1, 0, grid.yc.size - 2)
    tx = np.clip((px - grid.xc[i0]) / (grid.xc[i0 + 1] - grid.xc[i0]), 0.0, 1.0)
    ty = np.clip((py - grid.yc[j0]) / (grid.yc[j0 + 1] - grid.yc[j0]), 0.0, 1.0)
    sj = np.stack([j0, j0, j0 + 1, j0 + 1], axis=1)
    si = np.stack([i0, i0 + 1, i0, i0 + 1], axis=1)
    sw = np.stack([(1 - tx) * (1 - ty), tx * (1 - ty), (1 - tx) * ty, tx * ty], axis=1)
    sw = sw * fluid[sj, si]
    weak = sw.sum(axis=1) < 0.05  # image point (nearly) surrounded by solid cells: nearest fluid cell
    if np.any(weak):
        fj, fi = np.nonzero(fluid)
        for k in np.nonzero(weak)[0]:
            m = int(np.argmin((grid.xc[fi] - px[k]) ** 2 + (grid.yc[fj] - py[k]) ** 2))
            sj[k], si[k], sw[k] = fj[m], fi[m], [1.0, 0.0, 0.0, 0.0]
    return sj.astype(np.int64), si.astype(np.int64), sw / sw.sum(axis=1)[:, None]


def build_body(grid: Grid, airfoil: Airfoil | None) -> Body:
    """Classify the cells of ``grid`` around ``airfoil`` (``None``: no body) and build the ghost stencils.

    A ghost seen from above (below) mirrors the flow across the upper (lower) surface, one seen
    from the side across the nearest surface point: a ghost in a part thinner than two cells
    (the trailing edge) holds a different state for each side, so the two sides do not
    communicate through it.
    """
    solid = _solid_cells(grid, airfoil)
    fluid = ~solid
    kind = np.where(solid, DEAD, FLUID).astype(np.int8)
    entries: list[tuple[np.ndarray, np.ndarray, int]] = []
    for d, (dj, di) in enumerate(DIRECTIONS):
        seen = np.zeros_like(solid)
        seen[max(0, -dj) : solid.shape[0] - max(0, dj), max(0, -di) : solid.shape[1] - max(0, di)] = fluid[
            max(0, dj) : solid.shape[0] + min(0, dj), max(0, di) : solid.shape[1] + min(0, di)
        ]
        gj, gi = np.nonzero(solid & seen)
        kind[gj, gi] = WALL_GHOST
        entries.append((gj, gi, d))
    kind[:NG, :] = kind[-NG:, :] = EDGE_GHOST
    kind[:, :NG] = kind[:, -NG:] = EDGE_GHOST
    parts: list[tuple[np.ndarray, ...]] = []
    for gj, gi, d in entries:
        if gj.size == 0 or airfoil is None:
            continue
        gx, gy = grid.xc[gi], grid.yc[gj]
        size = np.minimum(grid.dx[gi], grid.dy[gj])
        bx, by, nx, ny = _wall_points(airfoil, gx, gy, _SURFACE_SEEN[d])
        # Mirror point b + |g - b| n; a ghost outside the body (a blocked thin part seen from
        # this side) takes its image one cell out instead, on the viewer's side of the surface.
        outside = (gx - bx) * nx + (gy - by) * ny > 0.0
        dist = np.where(outside, size, np.hypot(gx - bx, gy - by))
        sj, si, sw = _image_stencils(grid, kind == FLUID, bx + dist * nx, by + dist * ny)
        # from the point the ghost state stands for (the image's mirror across the wall) to the image
        span = np.where(outside, 2.0 * size, dist - ((gx - bx) * nx + (gy - by) * ny))
        curvature = surface_curvature(airfoil, bx, by, _SURFACE_SEEN[d])
        parts.append((gj, gi, np.full(gj.size, d), sj, si, sw, np.column_stack([nx, ny]), curvature, span))
    if not parts:
        none = np.zeros(0, dtype=np.int64)
        return Body(kind, none, none, none, np.zeros((0, 4), np.int64), np.zeros((0, 4), np.int64),
                    np.zeros((0, 4)), np.zeros((0, 2)), np.zeros(0), np.zeros(0))
    gj, gi, gdir, sj, si, sw, normal, curvature, span = (np.concatenate(arrays) for arrays in zip(*parts))
    return Body(kind, gj.astype(np.int64), gi.astype(np.int64), gdir.astype(np.int64), sj, si, sw, normal,
                curvature, span)


def airfoil_grid(
    spacing: float, core: tuple[float, float, float, float], far_field: float, stretching: float, multiple: int
) -> Grid:
    """The grid around a unit-chord airfoil: spacing ``spacing`` on ``core``, stretched to ``far_field``.

    The core is snapped outwards to whole cells placed so that the leading and trailing edges
    ``x = 0`` and ``x = 1`` are grid lines and the chord line ``y = 0`` runs through cell centres:
    the discrete trailing edge (which fixes the circulation) then sits in the same place relative
    to the cells on every grid, and the solution converges smoothly under refinement.

    Parameters
    ----------
    spacing : float
        Cell size in the uniform core.
    core : tuple of float
        ``(x0, x1, y0, y1)`` of the uniform core (before snapping).
    far_field : float
        The grid reaches at least ``far_field`` chords from the mid-chord point ``(0.5, 0)``
        in every direction.
    stretching : float
        Growth ratio of cell sizes outside the core.
    multiple : int
        Cell counts are multiples of this (``2^(levels - 1)`` for multigrid).
    """
    x0, x1, y0, y1 = core
    h = 1.0 / max(1, round(1.0 / spacing))  # a whole number of cells per chord
    x_core = (np.floor(x0 / h) * h, np.ceil(x1 / h) * h)
    y_core = ((np.floor(y0 / h - 0.5) + 0.5) * h, (np.ceil(y1 / h - 0.5) + 0.5) * h)
    x_nodes = stretched_axis(x_core, h, (0.5 - far_field, 0.5 + far_field), stretching, multiple)
    y_nodes = stretched_axis(y_core, h, (-far_field, far_field), stretching, multiple)
    return Grid.from_nodes(x_nodes, y_nodes)
