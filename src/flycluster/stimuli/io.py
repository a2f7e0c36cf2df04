"""Stimulus files: one netCDF per stimulus set, everything the simulation needs.

Contract (docs/architecture.md, "Stimulus file"):

- variable ``stimulus`` (sample, frame, hexal), float32, luminance in [0, 1]; samples shorter
  than the longest end in NaN frames (whole frames, trailing only).
- coords ``hexal`` (0..n-1) with ``u``, ``v`` (int) on hexal in flyvis order; ``time`` (s) on
  frame equal to ``frame * dt - t_pre``; ``sample`` (0..n-1) plus one coordinate per sample
  parameter on dim sample (moving edges also ``t_stim`` in s).
- attrs ``stimulus_set`` (str), ``kind`` (naturalistic | moving_edges | flashes), ``dt`` (s),
  ``t_pre`` (s), ``t_fade_in`` (s), ``extent`` (int).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from flycluster.errors import StimulusError
from flycluster.io_utils import atomic_path
from flycluster.stimuli.lattice import hex_coordinates, n_hexals

__all__ = ["KINDS", "make_stimulus_dataset", "validate_stimulus", "write_stimulus",
           "read_stimulus"]

KINDS = ("naturalistic", "moving_edges", "flashes")
REQUIRED_SAMPLE_COORDS = {
    "naturalistic": ("name", "original_index", "vertical_split_index", "temporal_split_index",
                     "frames", "flip_ax", "n_rot"),
    "moving_edges": ("angle", "width", "intensity", "speed", "t_stim"),
    "flashes": ("baseline", "intensity", "radius"),
}


def make_stimulus_dataset(stimulus: np.ndarray, sample_coords: dict, *, stimulus_set: str,
                          kind: str, dt: float, t_pre: float, t_fade_in: float, extent: int,
                          spec: dict | None = None) -> xr.Dataset:
    """Wrap a (sample, frame, hexal) array and its sample table in the stimulus-file layout.

    ``sample_coords`` maps coordinate name -> array (sample,). ``spec`` (the parameters that
    made the set) is stored as the JSON attribute ``spec`` for provenance.
    """
    stimulus = np.asarray(stimulus, dtype=np.float32)
    n_sample, n_frame, _ = stimulus.shape
    u, v = hex_coordinates(extent)
    coords = {
        "sample": np.arange(n_sample),
        "frame": np.arange(n_frame),
        "hexal": np.arange(len(u)),
        "u": ("hexal", u),
        "v": ("hexal", v),
        "time": ("frame", np.arange(n_frame) * float(dt) - float(t_pre)),
    }
    for key, values in sample_coords.items():
        coords[key] = ("sample", np.asarray(values))
    attrs = {"stimulus_set": str(stimulus_set), "kind": str(kind), "dt": float(dt),
             "t_pre": float(t_pre), "t_fade_in": float(t_fade_in), "extent": int(extent)}
    if spec is not None:
        attrs["spec"] = json.dumps(spec, sort_keys=True, default=str)
    ds = xr.Dataset({"stimulus": (("sample", "frame", "hexal"), stimulus)}, coords=coords,
                    attrs=attrs)
    ds["time"].attrs["units"] = "s"
    ds["stimulus"].attrs["long_name"] = "luminance on the hexagonal lattice, in [0, 1]"
    validate_stimulus(ds, where=f"stimulus set {stimulus_set!r}")
    return ds


def _fail(where, message):
    raise StimulusError(f"{where}: {message}")


def validate_stimulus(ds: xr.Dataset, where: str = "stimulus dataset") -> xr.Dataset:
    """Check a dataset against the stimulus-file contract; raise StimulusError naming ``where``."""
    if "stimulus" not in ds.data_vars:
        _fail(where, f"no variable 'stimulus' (found {sorted(ds.data_vars)})")
    stim = ds["stimulus"]
    if stim.dims != ("sample", "frame", "hexal"):
        _fail(where, f"'stimulus' has dims {stim.dims}, expected ('sample', 'frame', 'hexal')")
    if stim.dtype != np.float32:
        _fail(where, f"'stimulus' has dtype {stim.dtype}, expected float32")
    for key in ("stimulus_set", "kind", "dt", "t_pre", "t_fade_in", "extent"):
        if key not in ds.attrs:
            _fail(where, f"missing attribute {key!r}")
    kind = ds.attrs["kind"]
    if kind not in KINDS:
        _fail(where, f"attribute kind={kind!r}, expected one of {KINDS}")
    dt, t_pre, t_fade_in = (float(ds.attrs[k]) for k in ("dt", "t_pre", "t_fade_in"))
    if not dt > 0:
        _fail(where, f"attribute dt={dt} must be > 0 (seconds)")
    if t_pre < 0 or t_fade_in < 0:
        _fail(where, f"t_pre={t_pre} and t_fade_in={t_fade_in} must be >= 0 (seconds)")
    extent = ds.attrs["extent"]
    if int(extent) != extent or extent < 0:
        _fail(where, f"attribute extent={extent!r} must be a non-negative integer")
    extent = int(extent)
    n_sample, n_frame, n_hex = stim.shape
    if n_hex != n_hexals(extent):
        _fail(where, f"{n_hex} hexals, but a lattice of extent {extent} has "
                     f"{n_hexals(extent)}")
    if n_sample == 0 or n_frame == 0:
        _fail(where, f"empty stimulus of shape {stim.shape}")
    u, v = hex_coordinates(extent)
    for name, expected in (("u", u), ("v", v)):
        if name not in ds.coords or ds[name].dims != ("hexal",):
            _fail(where, f"missing coordinate {name!r} on dim hexal")
        if not np.array_equal(ds[name].values, expected):
            _fail(where, f"coordinate {name!r} is not the flyvis (u-major) hexal order")
    if "time" not in ds.coords or ds["time"].dims != ("frame",):
        _fail(where, "missing coordinate 'time' on dim frame")
    expected_time = np.arange(n_frame) * dt - t_pre
    if not np.allclose(ds["time"].values, expected_time, rtol=0, atol=1e-6):
        _fail(where, "coordinate 'time' is not frame * dt - t_pre")
    for name in REQUIRED_SAMPLE_COORDS[kind]:
        if name not in ds.coords or ds[name].dims != ("sample",):
            _fail(where, f"kind {kind!r} needs coordinate {name!r} on dim sample")
    values = stim.values
    nan = np.isnan(values)
    if nan.any():
        frame_nan = nan.all(axis=2)
        if (nan.any(axis=2) != frame_nan).any():
            _fail(where, "NaN values must fill whole frames (padding), found partial NaN frames")
        # once a sample's frame is NaN, every later frame must be NaN (trailing padding)
        if (np.diff(frame_nan.astype(np.int8), axis=1) < 0).any():
            _fail(where, "NaN frames must be trailing padding, found NaN frames before data")
        if frame_nan[:, 0].any():
            _fail(where, "a sample has no valid frame (all NaN)")
    # nanmin/nanmax reduce without copying (full Sintel is 0.5 GB)
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if np.isinf(low) or np.isinf(high):
        _fail(where, "stimulus contains infinite values")
    if low < 0 or high > 1:
        _fail(where, f"luminance must lie in [0, 1], found [{low}, {high}]")
    return ds


def write_stimulus(ds: xr.Dataset, path) -> Path:
    """Validate and write a stimulus dataset to netCDF atomically (zlib, one chunk per sample)."""
    path = Path(path)
    validate_stimulus(ds, where=f"stimulus to write to {path}")
    _, n_frame, n_hex = ds["stimulus"].shape
    encoding = {"stimulus": {"zlib": True, "complevel": 1, "chunksizes": (1, n_frame, n_hex),
                             "dtype": "float32"}}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return path


def read_stimulus(path) -> xr.Dataset:
    """Read and validate a stimulus file; the data are loaded into memory.

    Raises StimulusError naming the file and what is wrong (missing file, wrong hexal count
    for its extent, values outside [0, 1], missing attributes or coordinates, ...).
    """
    path = Path(path)
    if not path.is_file():
        raise StimulusError(f"stimulus file {path} does not exist")
    try:
        with xr.open_dataset(path, engine="netcdf4") as ds:
            ds = ds.load()
    except (OSError, ValueError) as e:
        raise StimulusError(f"stimulus file {path} cannot be read as netCDF: {e}") from None
    return validate_stimulus(ds, where=f"stimulus file {path}")
