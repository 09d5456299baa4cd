"""A torch Dataset that reads a split file lazily (one sample per read) and normalises it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mambano_core.data.normalization import Normalization
from mambano_core.errors import DataError


class FieldPairDataset(Dataset):
    """(input, output) pairs of one split file, each a float32 tensor (1, s, s), normalised.

    The HDF5 handle is opened on first access in each process (DataLoader workers included),
    and only the requested sample is read from disk.

    Parameters
    ----------
    path
        A split file written by :func:`mambano_core.data.store.generate_store`.
    input_name, output_name
        Variable names of the input and output fields.
    normalization
        Training-split statistics applied to both fields.
    limit
        Use only the first ``limit`` samples.
    resolution
        The grid the file must hold (its name says so); checked when given.

    Raises
    ------
    DataError
        A file that is unreadable, lacks a variable, holds no sample, another or a non-square
        grid, or NaN/Inf values (checked once, when the dataset is built).
    """

    def __init__(
        self,
        path: str | Path,
        input_name: str,
        output_name: str,
        normalization: Normalization,
        limit: int | None = None,
        resolution: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.input_name = input_name
        self.output_name = output_name
        self.normalization = normalization
        self._handle: Any = None
        with self._open() as handle:
            for name in (input_name, output_name):
                _check_variable(handle, name, self.path, resolution)
            available = handle[input_name].shape[0]
            self.resolution = int(handle[input_name].shape[-1])
            if handle[output_name].shape != handle[input_name].shape:
                raise DataError(f"{self.path}: {input_name} and {output_name} have different shapes")
        self.length = available if limit is None else min(limit, available)

    def _open(self) -> Any:
        import h5py

        try:
            return h5py.File(self.path, "r")
        except OSError as exc:
            raise DataError(f"{self.path} is not a readable netCDF4/HDF5 file ({exc})") from None

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        if self._handle is None:
            self._handle = self._open()
        x = np.asarray(self._handle[self.input_name][index], dtype=np.float32)
        y = np.asarray(self._handle[self.output_name][index], dtype=np.float32)
        x = self.normalization.encode_input(torch.from_numpy(x))
        y = self.normalization.encode_output(torch.from_numpy(y))
        return x[None].float(), y[None].float()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handle"] = None  # h5py handles cannot cross process boundaries
        return state


def _check_variable(handle: Any, name: str, path: Path, resolution: int | None, chunk: int = 64) -> None:
    """A (sample, s, s) field with samples, on the expected grid, finite (read in chunks)."""
    if name not in handle:
        raise DataError(f"{path} has no variable {name!r}")
    field = handle[name]
    if field.ndim != 3:
        raise DataError(f"{path}:{name} must have dims (sample, y, x), got {field.ndim} dimensions")
    samples, height, width = field.shape
    if samples == 0:
        raise DataError(f"{path}:{name} holds no sample")
    if height != width:
        raise DataError(f"{path}:{name} must be on a square grid, got {height} x {width}")
    if resolution is not None and height != resolution:
        raise DataError(f"{path}:{name} holds a {height} x {width} grid, not the {resolution} x {resolution} its name says")
    for start in range(0, samples, chunk):
        block = np.asarray(field[start : start + chunk])
        if not np.isfinite(block).all():
            bad = start + int(np.argwhere(~np.isfinite(block))[0][0])
            raise DataError(f"{path}:{name} contains NaN/Inf values (first in sample {bad})")
