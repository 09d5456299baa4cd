"""Numerical PDE solvers behind the benchmarks that have no closed-form solution.

- :mod:`~mambano_core.solvers.allen_cahn`: Strang splitting, exact heat (sine basis) + exact reaction.
- :mod:`~mambano_core.solvers.spectral_ns`: dealiased pseudo-spectral vorticity form, Lawson RK4.
- :mod:`~mambano_core.solvers.darcy_fv`: vertex-centred finite volumes, harmonic means, sparse LU.
- :mod:`~mambano_core.solvers.grf`: Gaussian random fields by a truncated cosine KL expansion.

Submodules are imported on use (``from mambano_core.solvers.darcy_fv import solve_darcy``), so
importing this package is cheap.
"""
