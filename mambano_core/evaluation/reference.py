"""Published results of the reference table (median relative L1 %, In/Out), for side-by-side display.

Source: Raonic et al., "Convolutional Neural Operators for robust and accurate learning of PDEs",
NeurIPS 2023, Table 1 (on their data sets, not ours: shown as published, never mixed with ours).
"""

from __future__ import annotations

SOURCE = "CNO paper (Raonic et al., NeurIPS 2023), Table 1, on the authors' data"

# model -> benchmark -> (In, Out)
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "GT": {"poisson": (2.77, 2.84), "wave": (1.44, 1.79), "transport_smooth": (0.98, 875.4),
           "transport_discontinuous": (1.55, 22691), "allen_cahn": (0.77, 2.90), "navier_stokes": (4.14, 11.09),
           "darcy": (0.86, 1.17), "airfoil": (2.09, 2.94)},
    "UNet": {"poisson": (0.71, 1.27), "wave": (1.51, 2.03), "transport_smooth": (0.49, 1.28),
             "transport_discontinuous": (1.31, 1.35), "allen_cahn": (0.82, 2.18), "navier_stokes": (3.54, 10.93),
             "darcy": (0.54, 0.64), "airfoil": (0.38, 0.76)},
    "ResNet": {"poisson": (0.43, 1.10), "wave": (0.79, 1.36), "transport_smooth": (0.39, 0.96),
               "transport_discontinuous": (1.01, 1.16), "allen_cahn": (1.40, 3.74), "navier_stokes": (3.69, 9.68),
               "darcy": (0.42, 0.60), "airfoil": (1.70, 2.06)},
    "DeepONet": {"poisson": (12.92, 9.15), "wave": (2.26, 2.83), "transport_smooth": (1.14, 157.2),
                 "transport_discontinuous": (5.78, 117.1), "allen_cahn": (13.63, 19.86), "navier_stokes": (11.64, 15.05),
                 "darcy": (1.13, 1.61), "airfoil": (1.93, 2.88)},
    "FNO": {"poisson": (4.98, 7.05), "wave": (1.02, 1.77), "transport_smooth": (0.28, 3.90),
            "transport_discontinuous": (1.15, 2.89), "allen_cahn": (0.28, 1.10), "navier_stokes": (3.57, 9.58),
            "darcy": (0.80, 1.11), "airfoil": (0.44, 0.69)},
    "CNO": {"poisson": (0.21, 0.27), "wave": (0.63, 1.17), "transport_smooth": (0.24, 0.46),
            "transport_discontinuous": (1.01, 1.09), "allen_cahn": (0.54, 2.23), "navier_stokes": (2.76, 7.04),
            "darcy": (0.38, 0.50), "airfoil": (0.35, 0.59)},
}
