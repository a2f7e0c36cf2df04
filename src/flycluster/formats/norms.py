"""The norms file, ``results/{ensemble}/norms.nc``: the response norm of every (network, cell type)
(:func:`flycluster.responses.response_norms`), variable ``norm`` (network, cell_type) float32 with
coordinate ``task_error`` (network)."""

from __future__ import annotations

from pathlib import Path

import xarray as xr

from flycluster.formats._netcdf import open_checked
from flycluster.io_utils import atomic_path


def write_norms(norms: xr.DataArray, path) -> Path:
    """Write the norms atomically (variable ``norm``)."""
    if tuple(norms.dims) != ("network", "cell_type"):
        raise ValueError(f"norms to write to {path} must have dims (network, cell_type), got {norms.dims}")
    path = Path(path)
    with atomic_path(path) as tmp:
        norms.to_dataset(name="norm").to_netcdf(tmp, engine="netcdf4")
    return path


def read_norms(path) -> xr.DataArray:
    """Read a norms file written by :func:`write_norms`: DataArray (network, cell_type)."""
    ds = open_checked(path, "norms", variables=("norm",))
    norm = ds["norm"]
    if tuple(norm.dims) != ("network", "cell_type"):
        raise ValueError(f"norms file {path}: variable 'norm' must have dims (network, cell_type), got {norm.dims}")
    return norm
