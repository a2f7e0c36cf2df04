"""Ensemble-level indices of every cell type: flash response index (FRI) and direction
selectivity index (DSI), from a stimulus set's response files (one per network).

The workflow's rules ``fri`` and ``dsi`` call these; the figures are
:func:`flycluster.plots.fri.plot_ensemble_fri_dsi` and :func:`~flycluster.plots.fri.plot_cluster_fri`.
"""

from __future__ import annotations

from pathlib import Path

import xarray as xr

__all__ = ["read_all_cell_types", "ensemble_fri", "ensemble_dsi", "write_index", "read_index"]


def read_all_cell_types(paths) -> xr.DataArray:
    """Responses of all cell types across networks.

    Parameters
    ----------
    paths : sequence of response files of one stimulus set, one per network.

    Returns
    -------
    DataArray (network, sample, frame, cell_type), float32, with the first file's sample
    coordinates and ``time`` (s); attrs ``stimulus_set`` and ``dt`` (when the file has them).

    Raises
    ------
    ValueError
        If the files disagree on stimulus set, samples, frames or cell types (naming the file).
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("read_all_cell_types needs at least one response file")
    arrays = list(_networks(paths))
    first = arrays[0]
    out = xr.concat(arrays, dim="network", coords="minimal", compat="override", join="override")
    out.attrs = dict(first.attrs)
    return out.transpose("network", "sample", "frame", "cell_type")


def _networks(paths):
    """Yield each file's responses, one network at a time: DataArray (network: 1, sample,
    frame, cell_type) with the first file's coordinates and attrs ``stimulus_set`` and ``dt``
    (when the file has them); a ValueError names a file that disagrees with the first on
    stimulus set, samples, frames or cell types."""
    from flycluster.formats.responses import open_responses

    first, first_attrs = None, {}
    for path in paths:
        with open_responses(path) as ds:
            da = ds["responses"].load()
            attrs = dict(ds.attrs)
        if first is None:
            first, first_attrs = da, attrs
        else:
            if attrs.get("stimulus_set") != first_attrs.get("stimulus_set"):
                raise ValueError(f"response file {path}: stimulus set {attrs.get('stimulus_set')!r}"
                                 f" differs from {first_attrs.get('stimulus_set')!r} of {paths[0]}")
            if da.shape != first.shape or list(da["cell_type"].values) != list(
                    first["cell_type"].values):
                raise ValueError(f"response file {path}: shape {da.shape} or cell types differ "
                                 f"from {paths[0]} {first.shape}")
            da = da.assign_coords({name: first[name] for name in first.coords
                                   if name in da.coords})
        da = da.expand_dims(network=[str(attrs.get("network", Path(path).stem))])
        da.attrs = {key: first_attrs[key] for key in ("stimulus_set", "dt") if key in first_attrs}
        yield da


def ensemble_fri(paths, radius: int = 6, t_stim: float = 1.0, dt: float | None = None) -> xr.DataArray:
    """Flash response index of every cell type and network (flyvis's definition,
    :func:`flycluster.tuning.flash_response_index`).

    Parameters
    ----------
    paths : flash response files, one per network.
    radius : flash radius, columns (flyvis's Fig. 2b: 6; -1 full field).
    t_stim : flash duration of the set, s (the responses do not carry it).
    dt : frame interval, s (default: the files' ``dt`` attribute, else the time coordinate).

    Returns
    -------
    DataArray ``fri`` (network, cell_type) in [-1, 1]; attrs radius, t_stim, stimulus_set.
    """
    from flycluster.tuning import flash_response_index

    responses = read_all_cell_types(paths)
    if dt is None and "dt" in responses.attrs:
        dt = float(responses.attrs["dt"])
    fri = flash_response_index(responses, radius=radius, t_stim=t_stim, dt=dt)
    fri = fri.transpose("network", "cell_type").rename("fri")
    fri.attrs = {"radius": int(radius), "t_stim": float(t_stim),
                 "stimulus_set": str(responses.attrs.get("stimulus_set", "")),
                 "definition": "flyvis flash_response_index, nonnegative=True"}
    return fri


def ensemble_dsi(paths) -> xr.DataArray:
    """Direction selectivity index of every cell type, network and edge intensity
    (:func:`flycluster.tuning.direction_selectivity_index`).

    Returns
    -------
    DataArray ``dsi`` (network, intensity, cell_type) in [0, 1].
    """
    from flycluster.tuning import direction_selectivity_index

    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("ensemble_dsi needs at least one response file")
    # one network at a time (a network's index depends on its own responses alone): holding
    # flyvis's moving-edge set of all 50 flow/0000 networks at once took 5.9 GB
    parts, first = [], None
    for responses in _networks(paths):
        first = responses if first is None else first
        parts.append(direction_selectivity_index(responses))
    dsi = xr.concat(parts, dim="network").transpose("network", "intensity", "cell_type")
    dsi.attrs = {"stimulus_set": str(first.attrs.get("stimulus_set", ""))}
    return dsi.rename("dsi")


def write_index(da: xr.DataArray, path) -> Path:
    """Write an index DataArray to netCDF atomically (temp name, then rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    da.to_dataset().to_netcdf(tmp)
    tmp.replace(path)
    return path


def read_index(path, name: str) -> xr.DataArray:
    """Read an index file written by :func:`write_index` (``name``: ``fri`` or ``dsi``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"index file {path} does not exist")
    with xr.open_dataset(path) as ds:
        if name not in ds:
            raise ValueError(f"index file {path} has no variable {name!r} "
                             f"(has {', '.join(map(str, ds.data_vars))})")
        return ds[name].load()
