"""Running a trained model on fields at any resolution, in one of two modes.

``native``   run the model on the input grid itself (filters are built per grid size);
``resample`` resampling of the input to the training grid (band-limited, or linear for
             ``open`` windows), run there, and resample the output back (the reference
             protocol of the MambaNO/CNO code).

Fields are resampled in physical units, not as the normalised values the model sees: min-max
normalisation adds a constant, and a constant is not a sine series, so sine-series (Dirichlet)
resampling of a normalised field rings at every grid point.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from mambano_core.data.normalization import Normalization
from mambano_core.errors import DataError

ResolutionMode = Literal["native", "resample"]
RESOLUTION_MODES: tuple[str, ...] = ("native", "resample")


@torch.no_grad()
def infer(
    model: nn.Module,
    x: Tensor,
    mode: ResolutionMode,
    train_resolution: int,
    boundary: str,
    batch_size: int = 16,
    normalization: Normalization | None = None,
) -> Tensor:
    """Model output for a normalised input batch ``x`` of shape (n, C, s, s), on the same grid.

    Parameters
    ----------
    mode
        ``native`` or ``resample`` (see the module docstring).
    train_resolution
        The grid the model was trained on (used by ``resample``).
    boundary
        ``dirichlet`` (sine-series resampling), ``periodic`` (Fourier) or ``open`` (linear).
    normalization
        The map from physical to normalised fields (the checkpoint's); ``resample`` resamples in
        physical units. None: the fields are physical already.
    """
    if mode not in RESOLUTION_MODES:
        raise ValueError(f"unknown resolution mode {mode!r}; expected one of {RESOLUTION_MODES}")
    model.eval()
    size = x.shape[-1]
    try:
        return _run(model, x, mode, train_resolution, boundary, batch_size, size, normalization or Normalization.identity())
    except ValueError as exc:  # models tied to one grid (DeepONet, FFNN) refuse others
        hint = "; try --mode resample" if mode == "native" else ""
        raise DataError(f"{type(model).__name__} cannot run on a {size}x{size} grid: {exc}{hint}") from None


def _run(model: nn.Module, x: Tensor, mode: str, train_resolution: int, boundary: str, batch_size: int, size: int,
         normalization: Normalization) -> Tensor:
    # physical zero in normalised units: resampling (x - zero) resamples the physical field
    input_zero, output_zero = float(normalization.encode_input(0.0)), float(normalization.encode_output(0.0))
    outputs = []
    for start in range(0, x.shape[0], batch_size):
        chunk = x[start : start + batch_size]
        if mode == "resample" and size != train_resolution:
            from mambano_core.ops.resample import resample

            out = model(resample(chunk - input_zero, train_resolution, boundary) + input_zero)
            outputs.append(resample(out - output_zero, size, boundary) + output_zero)
        else:
            outputs.append(model(chunk))
    return torch.cat(outputs)
