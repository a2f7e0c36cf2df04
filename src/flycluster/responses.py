"""Simulating stimulus files into response files, and the response norms.

The response-file format (read, write, check) is owned by :mod:`flycluster.formats.responses`,
the norms file by :mod:`flycluster.formats.norms`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from flycluster.formats.responses import open_responses, response_dataset, write_responses


def simulate_stimulus_file(network, stimulus_path, out_path, *, network_name: str,
                           checkpoint="", task_error=float("nan"), batch_size=None) -> Path:
    """Simulate every sample of a stimulus file with ``network`` and write its response file.

    The stimulus file's attrs ``dt``, ``t_pre`` and ``t_fade_in`` (s) decide how the network
    is run (``Network.simulate``); trailing NaN frames (samples shorter than the longest)
    come out as NaN responses.

    Parameters
    ----------
    network : flycluster.network.Network
        Anything with ``simulate(movie, dt, t_pre, t_fade_in, batch_size) -> (sample, frame,
        cell_type)`` and ``cell_types``.
    stimulus_path : path
        A stimulus file (flycluster.stimuli.write_stimulus).
    out_path : path
        Destination ``results/{ensemble}/responses/{stimulus_set}/{network}.nc``.
    """
    from flycluster.stimuli.io import read_stimulus

    stimulus = read_stimulus(stimulus_path)  # validated: dt, t_pre, t_fade_in present and >= 0
    try:
        movie = stimulus["stimulus"].transpose("sample", "frame", "hexal").values
        attrs = stimulus.attrs
        responses = network.simulate(movie, dt=float(attrs["dt"]), t_pre=float(attrs["t_pre"]),
                                     t_fade_in=float(attrs["t_fade_in"]), batch_size=batch_size)
        ds = response_dataset(np.asarray(responses), stimulus, list(network.cell_types),
                              network=network_name, checkpoint=checkpoint, task_error=task_error)
    finally:
        stimulus.close()
    return write_responses(ds, out_path)


def response_norms(paths) -> xr.DataArray:
    """Response norm per (network, cell type): sqrt(mean over samples and frames of r^2).

    NaN responses (padding) count as 0, as in flyvis. Computed from the naturalistic
    response files; used to normalise traces, not for clustering.

    Returns
    -------
    xarray.DataArray, dims (network, cell_type), float32
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("response_norms needs at least one response file")
    rows, names, errors, cell_types = [], [], [], None
    for path in paths:
        with open_responses(path) as ds:
            r = ds["responses"].values.astype(np.float64)
            r = np.nan_to_num(r, nan=0.0)
            rows.append(np.sqrt(np.mean(r**2, axis=(0, 1))))
            names.append(str(ds.attrs["network"]))
            errors.append(float(ds.attrs.get("task_error", np.nan)))
            these = [str(c) for c in ds["cell_type"].values]
            if cell_types is None:
                cell_types = these
            elif these != cell_types:
                raise ValueError(f"response file {path} lists other cell types than {paths[0]}")
    return xr.DataArray(np.asarray(rows, dtype=np.float32), dims=("network", "cell_type"),
                        coords={"network": np.asarray(names, dtype=object),
                                "cell_type": np.asarray(cell_types, dtype=object),
                                "task_error": ("network", np.asarray(errors))},
                        name="norm",
                        attrs={"long_name": "sqrt(mean(r^2)) over naturalistic samples and frames",
                               "units": "a.u."})

