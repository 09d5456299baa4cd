"""Kaiser-windowed sinc low-pass filters for alias-free resampling, designed per grid size.

The design follows CNO (Raonic et al., NeurIPS 2023) and StyleGAN3 (Karras et al., "Alias-Free
Generative Adversarial Networks", NeurIPS 2021), as used by MambaNO (Zheng et al., NeurIPS 2024):
for a grid of ``s`` points per axis the band limit is ``cutoff = s / cutoff_den`` and the
transition band half-width ``half_width_mult * s - s / cutoff_den``. The pointwise nonlinearity
runs at the temporary sampling rate ``max(s_in, s_out) * lrelu_upsampling``; the upsampling
filter has the input's cutoff, the downsampling filter the output's, both sampled at that
temporary rate with ``filter_size`` taps per resampling factor, and the Kaiser window's beta
follows from the transition width through :func:`scipy.signal.kaiser_atten` and
:func:`scipy.signal.kaiser_beta` (what :func:`scipy.signal.firwin` does given ``width``).

Cutoff, transition width and sampling rate all scale with ``s``, so the taps and the padding
depend only on the ratio of the grid sizes (and the hyperparameters); the lengths, and so the
resampling matrices, depend on the sizes themselves. Plans are built from the size seen at
call time and cached (:func:`axis_plan`; the matrices that apply them are cached in
:mod:`mambano_core.ops.banded`), so one layer serves every grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.signal


@dataclass(frozen=True)
class FilterConfig:
    """Hyperparameters of the alias-free filters (CNO's defaults).

    Parameters
    ----------
    filter_size
        Taps per resampling factor (a filter for factor ``f`` has ``filter_size * f`` taps).
    lrelu_upsampling
        Oversampling of the nonlinearity relative to the finer of input and output grids.
    half_width_mult
        The transition band ends at ``half_width_mult * s`` for a grid of size ``s``.
    cutoff_den
        The cutoff frequency is ``s / cutoff_den`` (2.0001: just below Nyquist).
    """

    filter_size: int = 6
    lrelu_upsampling: int = 2
    half_width_mult: float = 0.8
    cutoff_den: float = 2.0001

    def __post_init__(self) -> None:
        if self.filter_size < 1 or self.lrelu_upsampling < 1:
            raise ValueError("filter_size and lrelu_upsampling must be positive integers")
        if self.cutoff_den < 2.0:
            raise ValueError(f"cutoff_den must be >= 2 (the Nyquist limit), got {self.cutoff_den}")
        if self.half_width_mult <= 1.0 / self.cutoff_den:
            raise ValueError("half_width_mult must exceed 1 / cutoff_den (positive transition width)")


@dataclass(frozen=True)
class AxisPlan:
    """How one axis is resampled by the filtered nonlinearity (StyleGAN3's ``filtered_lrelu``).

    Attributes
    ----------
    in_size, out_size
        Number of samples before and after.
    up, down
        Integer up- and downsampling factors around the nonlinearity.
    up_filter, down_filter
        Filter taps (float64, symmetric, unit DC gain) as tuples so that the plan is hashable.
    pad_lo, pad_hi
        Zero padding applied after zero-stuffing, before the upsampling filter.
    """

    in_size: int
    out_size: int
    up: int
    down: int
    up_filter: tuple[float, ...]
    down_filter: tuple[float, ...]
    pad_lo: int
    pad_hi: int


def design_lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float) -> np.ndarray:
    """Kaiser-windowed sinc low-pass filter (StyleGAN3's and CNO's ``design_lowpass_filter``).

    Parameters
    ----------
    numtaps
        Number of taps; 1 gives the identity filter ``[1.0]``.
    cutoff
        Cutoff frequency, in the units of ``fs``.
    width
        Full transition band width, in the units of ``fs``; sets the Kaiser window's beta.
    fs
        Sampling rate of the signal the filter is applied to.

    Returns
    -------
    numpy.ndarray
        ``numtaps`` symmetric taps with unit gain at zero frequency.
    """
    if numtaps < 1:
        raise ValueError(f"numtaps must be >= 1, got {numtaps}")
    if numtaps == 1:
        return np.ones(1)
    nyquist = fs / 2.0
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / nyquist))
    return scipy.signal.firwin(numtaps, cutoff, window=("kaiser", beta), fs=fs)


@lru_cache(maxsize=512)
def axis_plan(in_size: int, out_size: int, config: FilterConfig = FilterConfig()) -> AxisPlan:
    """Design (once per size, then cached) the resampling plan of one axis.

    Parameters
    ----------
    in_size, out_size
        Grid sizes along the axis; one must be an integer multiple of the other.
    config
        Filter hyperparameters.

    Returns
    -------
    AxisPlan
        Factors, taps and padding; the padding is CNO's (StyleGAN3's symmetric interpretation).
    """
    if in_size < 1 or out_size < 1:
        raise ValueError(f"grid sizes must be positive, got {in_size} -> {out_size}")
    if max(in_size, out_size) % min(in_size, out_size):
        raise ValueError(f"grid sizes {in_size} -> {out_size} are not related by an integer factor")
    tmp_rate = max(in_size, out_size) * config.lrelu_upsampling
    up = tmp_rate // in_size
    down = tmp_rate // out_size
    up_taps = config.filter_size * up if up > 1 else 1
    down_taps = config.filter_size * down if down > 1 else 1

    def _design(size: int, taps: int) -> tuple[float, ...]:
        cutoff = size / config.cutoff_den
        half_width = config.half_width_mult * size - cutoff
        return tuple(float(v) for v in design_lowpass_filter(taps, cutoff, 2 * half_width, tmp_rate))

    pad_total = (out_size - 1) * down + 1 - in_size * up + up_taps + down_taps - 2
    pad_lo = (pad_total + up) // 2
    return AxisPlan(
        in_size=in_size,
        out_size=out_size,
        up=up,
        down=down,
        up_filter=_design(in_size, up_taps),
        down_filter=_design(out_size, down_taps),
        pad_lo=pad_lo,
        pad_hi=pad_total - pad_lo,
    )
