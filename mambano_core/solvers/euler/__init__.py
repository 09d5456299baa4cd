"""Steady 2-D compressible Euler solver on Cartesian grids with immersed (ghost-cell) walls.

Used by the airfoil benchmark (:mod:`mambano_core.data.benchmarks.airfoil`); see docs/airfoil.md.

- :mod:`.geometry`: RAE 2822 (AGARD AR-138 ordinates), Hicks-Henne bumps, inside tests, closest points.
- :mod:`.grid`: stretched tensor-product grids, cell classification, ghost-cell image stencils.
- :mod:`.fluxes`: HLLC and Rusanov fluxes (Toro 2009).
- :mod:`.reconstruction`: MUSCL slopes with minmod / van Leer / van Albada limiters (van Leer 1979).
- :mod:`.kernels`: residual, wall and far-field boundary states, local time steps (numba).
- :mod:`.implicit`: matrix-free LU-SGS (Yoon & Jameson 1988).
- :mod:`.multigrid`: FAS restriction and prolongation (Jameson 1983).
- :mod:`.solver`: the steady driver (:func:`~.solver.solve_steady`) and field sampling.
- :mod:`.surface`: surface pressure coefficients, lift and drag, the upper-surface shock position.
- :mod:`.unsteady`: time-accurate SSP-RK2 driver (shock-tube verification).
- :mod:`.riemann_exact`: exact Riemann solver (Toro 2009, ch. 4).

The numba kernels are cached on disk (``cache=True``). numba invalidates a cached function only
when *its own* source file changes: after editing :mod:`.fluxes` or :mod:`.reconstruction`
(inlined into :mod:`.kernels`), delete ``__pycache__/*.nb[ci]`` in this package.
"""
