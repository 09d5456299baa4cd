"""Inference: running a trained model on fields at any grid (``run``), and predictions from input
files in physical units (``predict``)."""

from mambano_core.inference.run import RESOLUTION_MODES, ResolutionMode, infer

__all__ = ["RESOLUTION_MODES", "ResolutionMode", "infer"]
