"""What every netCDF reader repeats: the file must exist, open, and hold the expected variables
and attributes; errors name the file and what is missing."""

from __future__ import annotations

from pathlib import Path

import xarray as xr


def open_checked(path, what: str, variables=(), attrs=(), load: bool = True, **kwargs) -> xr.Dataset:
    """Open the netCDF file ``path`` (a ``what`` file, for messages) and check its contents.

    Parameters
    ----------
    path : path of the file.
    what : its kind, e.g. "clustering" (messages read "clustering file <path> ...").
    variables, attrs : names the file must hold (variables or coordinates; global attributes).
    load : load everything into memory and close the file (else the caller closes it).
    **kwargs : passed to ``xarray.open_dataset``.

    Raises
    ------
    FileNotFoundError : no such file.
    OSError : not readable as netCDF.
    ValueError : variables or attributes missing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist")
    try:
        ds = xr.open_dataset(path, engine="netcdf4", **kwargs)
    except OSError as err:
        raise OSError(f"{what} file {path} cannot be read ({err}); delete it and rerun") from err
    if load:
        with ds:
            ds = ds.load()
    try:
        check_contents(path, what, ds.variables, ds.attrs, variables, attrs)
    except ValueError:
        ds.close()
        raise
    return ds


def check_contents(path, what: str, present_variables, present_attrs, variables=(), attrs=()) -> None:
    """Raise ``ValueError`` naming the file unless ``variables`` and ``attrs`` are all present."""
    missing_vars = [name for name in variables if name not in present_variables]
    missing_attrs = [name for name in attrs if name not in present_attrs]
    if missing_vars or missing_attrs:
        parts = ([f"variables {missing_vars}"] if missing_vars else []) + (
            [f"attributes {missing_attrs}"] if missing_attrs else [])
        raise ValueError(f"{what} file {path} is not a flycluster {what} file: it lacks {' and '.join(parts)}")
