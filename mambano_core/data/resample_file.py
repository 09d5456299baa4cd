"""Resampling of every field of a netCDF file (``mambano upsample``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mambano_core.data.netcdf import field_variables, read_attrs, read_field, read_per_sample, read_sample_ids, write_field_file
from mambano_core.data.grids import check_resolution
from mambano_core.errors import DataError
from mambano_core.io_utils import check_output_path

BOUNDARIES = ("dirichlet", "periodic", "open")  # mambano_core.ops.resample.BOUNDARIES (torch imported lazily)
RESAMPLING = {"dirichlet": "sine series", "periodic": "Fourier series", "open": "linear interpolation"}


def resample_file(
    input_path: str | Path, output_path: str | Path, resolution: int, boundary: str | None = None
) -> dict[str, Any]:
    """Resample all field variables of ``input_path`` to ``resolution`` and write ``output_path``.

    Zero-Dirichlet data use the sine series, periodic data the Fourier series, open data (a
    window of a larger domain, e.g. the airfoil's) linear interpolation; the file's
    ``boundary`` attribute (written by ``mambano generate``) decides unless ``boundary`` is given.
    Returns a short description (variables, sizes, boundary).
    """
    check_resolution(resolution)
    check_output_path(output_path)
    attrs = read_attrs(input_path)
    boundary = boundary or attrs.get("boundary")
    if boundary not in BOUNDARIES:
        raise DataError(
            f"{input_path} does not say whether its fields are zero-Dirichlet, periodic or open "
            f"(no 'boundary' attribute); pass --boundary dirichlet, periodic or open"
        )
    from mambano_core.ops.resample import resample

    names = field_variables(input_path)
    fields: dict[str, np.ndarray] = {}
    source = 0
    for name in names:
        values, _, _ = read_field(input_path, name)
        source = values.shape[-1]
        fields[name] = np.asarray(resample(values, resolution, boundary))
    count = next(iter(fields.values())).shape[0]
    attrs.update({"resolution": resolution, "resampled_from": source, "boundary": boundary,
                  "resampling": RESAMPLING[boundary]})
    attrs.pop("Conventions", None)
    attrs.pop("tool_version", None)
    write_field_file(output_path, fields, read_sample_ids(input_path, count), read_per_sample(input_path, count), attrs)
    return {"variables": names, "from": source, "to": resolution, "boundary": boundary, "samples": count}
