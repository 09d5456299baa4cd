"""CF netCDF field files: one variable per field with dims (sample, y, x), written via xarray."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mambano_core import __version__
from mambano_core.errors import DataError, MissingFileError
from mambano_core.io_utils import atomic_path

FIELD_DIMS = ("sample", "y", "x")


def _coordinate(resolution: int) -> np.ndarray:
    return np.arange(resolution, dtype=np.float64) / resolution


def write_field_file(
    path: str | Path,
    fields: dict[str, np.ndarray],
    sample_ids: np.ndarray,
    per_sample: dict[str, np.ndarray] | None = None,
    attrs: dict[str, Any] | None = None,
) -> None:
    """Write fields of shape (sample, s, s) as float32 CF netCDF, atomically.

    Parameters
    ----------
    path
        Target file.
    fields
        Variable name -> array (n, s, s), stored as float32.
    sample_ids
        Stable integer ids, one per sample (the same id at every resolution).
    per_sample
        Per-sample scalar parameters and seeds, stored as 1-D variables over ``sample``.
    attrs
        Global attributes; dicts/lists are stored as JSON strings and bools as int8.
    """
    import xarray as xr

    first = next(iter(fields.values()))
    resolution = first.shape[-1]
    coords = {
        "sample": ("sample", np.asarray(sample_ids, dtype=np.int64), {"long_name": "stable sample id"}),
        "y": ("y", _coordinate(resolution), {"long_name": "y coordinate", "units": "1", "axis": "Y"}),
        "x": ("x", _coordinate(resolution), {"long_name": "x coordinate", "units": "1", "axis": "X"}),
    }
    data_vars: dict[str, Any] = {
        name: (FIELD_DIMS, np.asarray(values, dtype=np.float32), {"long_name": name})
        for name, values in fields.items()
    }
    for name, values in (per_sample or {}).items():
        data_vars[name] = (("sample",), np.asarray(values))
    ds = xr.Dataset(data_vars=data_vars, coords=coords, attrs=_netcdf_attrs(attrs or {}))
    encoding = {name: {"chunksizes": (1, resolution, resolution)} for name in fields}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", format="NETCDF4", encoding=encoding)


def _netcdf_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Conventions": "CF-1.8", "tool_version": f"mambano {__version__}"}
    for key, value in attrs.items():
        if isinstance(value, bool):
            out[key] = np.int8(value)
        elif isinstance(value, (dict, list, tuple)):
            out[key] = json.dumps(value, sort_keys=True)
        elif value is None:
            out[key] = "null"
        else:
            out[key] = value
    return out


def read_attrs(path: str | Path) -> dict[str, Any]:
    """Global attributes of a netCDF file, JSON strings decoded where they parse as dicts."""

    path = _existing(path)
    with _open_h5(path) as handle:
        attrs = {key: _decode_attr(value) for key, value in handle.attrs.items() if not key.startswith("_")}
    return attrs


def _decode_attr(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"file {str(path)!r} does not exist")
    return path


def _open_h5(path: Path):
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DataError(f"{path} is not a readable netCDF4/HDF5 file ({exc})") from None


def read_field(path: str | Path, variable: str | None = None) -> tuple[np.ndarray, str, dict[str, Any]]:
    """Read one field variable of a netCDF file as float64 (n, s, s), validated.

    Accepts dims (sample, y, x) or (y, x) (a single field). Without ``variable``, the file
    must hold exactly one 2-D or 3-D float variable. Raises :class:`DataError` for a missing
    variable, wrong dimensions, a non-square grid or NaN/Inf values.
    """
    path = _existing(path)
    with _open_h5(path) as handle:
        candidates = [name for name, obj in handle.items() if _is_field(obj)]
        if variable is None:
            if len(candidates) != 1:
                raise DataError(
                    f"{path} holds {len(candidates)} field variables ({', '.join(candidates) or 'none'}); "
                    "name the one to use (e.g. --variable NAME)"
                )
            variable = candidates[0]
        if variable not in handle:
            raise DataError(
                f"{path} has no variable {variable!r}; field variables found: {', '.join(candidates) or 'none'}"
            )
        values = np.asarray(handle[variable][...], dtype=np.float64)
        attrs = {key: _decode_attr(value) for key, value in handle.attrs.items() if not key.startswith("_")}
    return validate_field(values, f"{path}:{variable}"), variable, attrs


def field_variables(path: str | Path) -> list[str]:
    """Names of the 2-D/3-D floating-point variables of a file."""
    with _open_h5(_existing(path)) as handle:
        names = [name for name, obj in handle.items() if _is_field(obj)]
    if not names:
        raise DataError(f"{path} holds no 2-D or 3-D field variable")
    return names


def _is_field(obj: Any) -> bool:
    import h5py

    return isinstance(obj, h5py.Dataset) and obj.ndim in (2, 3) and obj.dtype.kind == "f"


def validate_field(values: np.ndarray, where: str) -> np.ndarray:
    """Check a field array: (n, s, s) or (s, s), square, finite. Returns (n, s, s)."""
    if values.ndim == 2:
        values = values[None]
    if values.ndim != 3:
        raise DataError(f"{where} must have dims (sample, y, x) or (y, x); got {values.ndim} dimensions")
    if values.shape[0] == 0:
        raise DataError(f"{where} holds no sample")
    if values.shape[1] != values.shape[2]:
        raise DataError(f"{where} must be on a square grid; got {values.shape[1]} x {values.shape[2]}")
    if values.shape[1] < 2:
        raise DataError(f"{where} has a grid of {values.shape[1]} points; at least 2 are needed")
    bad = ~np.isfinite(values)
    if bad.any():
        sample = int(np.argwhere(bad)[0][0])
        raise DataError(f"{where} contains {int(bad.sum())} NaN/Inf values (first in sample {sample})")
    return values


def read_sample_ids(path: str | Path, count: int) -> np.ndarray:
    """The file's stable sample ids (``sample`` coordinate), or 0..count-1 if it has none."""
    with _open_h5(_existing(path)) as handle:
        if "sample" in handle and handle["sample"].shape == (count,):
            return np.asarray(handle["sample"][...], dtype=np.int64)
    return np.arange(count, dtype=np.int64)


def read_per_sample(path: str | Path, count: int) -> dict[str, np.ndarray]:
    """1-D per-sample variables (seeds, parameters) other than the ``sample`` coordinate."""
    import h5py

    out: dict[str, np.ndarray] = {}
    with _open_h5(_existing(path)) as handle:
        for name, obj in handle.items():
            if isinstance(obj, h5py.Dataset) and obj.ndim == 1 and obj.shape == (count,) and name not in ("sample", "x", "y"):
                out[name] = np.asarray(obj[...])
    return out


def read_input_file(
    path: str | Path, input_name: str, variable: str | None, truth_name: str | None
) -> tuple[np.ndarray, str, np.ndarray | None, np.ndarray, dict[str, Any]]:
    """One read of a prediction input file: the input field, the truth if present, ids and attributes.

    Parameters
    ----------
    path
        A netCDF file with fields of dims (sample, y, x) or (y, x).
    input_name
        The model's input variable: used unless ``variable`` names another one.
    variable
        The variable to use as input, when the file names it differently.
    truth_name
        The model's output variable: read as the truth when the file holds it on the input's grid
        (and it is not the input itself).

    Returns
    -------
    values, used, truth, sample_ids, attrs
        Validated (n, s, s) float64 input, the variable used, the truth (or None), the stable
        sample ids and the global attributes.

    Raises
    ------
    DataError
        A file without the model's input variable (unless ``variable`` names one), a missing
        ``variable``, wrong dimensions, a non-square grid, NaN/Inf values.
    """
    path = _existing(path)
    with _open_h5(path) as handle:
        fields = [name for name, obj in handle.items() if _is_field(obj)]
        used = variable or input_name
        import h5py

        if used not in handle or not isinstance(handle[used], h5py.Dataset):
            hint = ("" if variable else
                    " (the model's input); name the file's input field with --variable NAME")
            raise DataError(f"{path} has no field variable {used!r}{hint}; field variables found: "
                            f"{', '.join(fields) or 'none'}")
        values = validate_field(np.asarray(handle[used][...], dtype=np.float64), f"{path}:{used}")
        truth = None
        if truth_name and truth_name != used and truth_name in handle and _is_field(handle[truth_name]):
            candidate = np.asarray(handle[truth_name][...], dtype=np.float64)
            candidate = candidate[None] if candidate.ndim == 2 else candidate
            if candidate.shape == values.shape:
                truth = validate_field(candidate, f"{path}:{truth_name}")
        ids = np.arange(len(values), dtype=np.int64)
        if "sample" in handle and handle["sample"].shape == (len(values),):
            ids = np.asarray(handle["sample"][...], dtype=np.int64)
        attrs = {key: _decode_attr(value) for key, value in handle.attrs.items() if not key.startswith("_")}
    return values, used, truth, ids, attrs
