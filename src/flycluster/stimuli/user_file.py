"""A user's own movie as a stimulus set (the ``file`` stimulus kind).

Three inputs are accepted:

- a netCDF file in flycluster's stimulus-file layout (:mod:`flycluster.stimuli.io`): read and
  validated as is (its ``kind`` is kept, ``stimulus_set`` renamed);
- a ``.npy`` array ``(samples, frames, hexals)`` already on the hexagonal lattice, hexals in
  flyvis (u-major) order, ``hexals`` = 3 e (e + 1) + 1 for the lattice extent e (721 for 15);
- a ``.npy`` array ``(samples, frames, height, width)`` of cartesian images, rendered through
  flyvis's BoxEye (:func:`flycluster.stimuli.render.box_eye`, a ``kernel_size`` box per
  hexal; frames smaller than 391 x 391 px are resized first, as flyvis does).

Values are luminance in [0, 1]. Samples may differ in length: a shorter sample ends in
frames that are entirely NaN (trailing padding); any other NaN, an infinity, a value outside
[0, 1], a wrong shape or a hexal count that does not fit the extent raises a
:class:`~flycluster.errors.StimulusError` naming the file and what was expected. ``.npy``
files are read with ``allow_pickle=False``.

Arrays become a stimulus set of kind ``naturalistic`` (clustered like the Sintel or photo
sets; sample coords ``name`` = "<file stem>_<index>", ``original_index`` = index,
``frames`` = valid frames, the split and augmentation coords 0), with the given ``dt``,
``t_pre`` and ``t_fade_in`` (default: flyvis's naturalistic protocol, no grey steady state,
2 s fade-in from each sample's first frame).

Example::

    from flycluster.stimuli import user_file, write_stimulus
    ds = user_file.load_user_stimulus("my_movie.npy", dt=1 / 100)   # (samples, frames, 721)
    write_stimulus(ds, "results/stimuli/my_movie.nc")
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from flycluster.errors import StimulusError
from flycluster.stimuli.io import make_stimulus_dataset, read_stimulus
from flycluster.stimuli.lattice import n_hexals

__all__ = ["load_user_stimulus", "validate_movie_array", "USER_FILE_SUFFIXES"]

USER_FILE_SUFFIXES = (".nc", ".npy")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validate_movie_array(movie: np.ndarray, where: str, extent: int = 15) -> np.ndarray:
    """Check a (samples, frames, hexals) or (samples, frames, height, width) movie.

    Returns the number of valid (non-padding) frames per sample, int64 (samples,).
    Raises StimulusError prefixed with ``where`` for each rule broken: dims, numeric dtype,
    hexal count for ``extent``, empty axes, NaN other than whole trailing frames, a sample
    without a valid frame, infinities, values outside [0, 1].
    """
    if movie.dtype.kind not in "fiub":
        raise StimulusError(f"{where}: dtype {movie.dtype} is not numeric; expected float "
                            "luminance in [0, 1]")
    if movie.ndim not in (3, 4):
        hint = (" (one movie? add a leading samples axis of length 1)"
                if movie.ndim == 2 else "")
        raise StimulusError(f"{where}: array of shape {movie.shape}; expected (samples, "
                            f"frames, hexals) on the lattice or (samples, frames, height, "
                            f"width) images{hint}")
    if movie.ndim == 3 and movie.shape[2] != n_hexals(extent):
        raise StimulusError(f"{where}: {movie.shape[2]} hexals per frame, but a lattice of "
                            f"extent {extent} has {n_hexals(extent)} (shape {movie.shape}; "
                            "images must be 4-D: samples, frames, height, width)")
    if 0 in movie.shape:
        raise StimulusError(f"{where}: empty array of shape {movie.shape}")
    values = np.asarray(movie, dtype=np.float64) if movie.dtype.kind != "f" else movie
    pixel_axes = tuple(range(2, movie.ndim))
    nan = np.isnan(values)
    frame_nan = nan.all(axis=pixel_axes)
    if (nan.any(axis=pixel_axes) != frame_nan).any():
        s, t = np.argwhere(nan.any(axis=pixel_axes) != frame_nan)[0]
        raise StimulusError(f"{where}: sample {s} frame {t} is partly NaN; NaN may only fill "
                            "whole frames at the end of a sample (padding)")
    if (np.diff(frame_nan.astype(np.int8), axis=1) < 0).any():
        s = int(np.argwhere(np.diff(frame_nan.astype(np.int8), axis=1) < 0)[0][0])
        raise StimulusError(f"{where}: sample {s} has NaN frames before valid ones; NaN "
                            "frames are only allowed as trailing padding")
    if frame_nan[:, 0].any():
        s = int(np.flatnonzero(frame_nan[:, 0])[0])
        raise StimulusError(f"{where}: sample {s} has no valid frame (all NaN)")
    if np.isinf(values).any():
        raise StimulusError(f"{where}: contains infinite values; expected luminance in [0, 1]")
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    if low < 0 or high > 1:
        raise StimulusError(f"{where}: values span [{low}, {high}]; expected luminance in "
                            "[0, 1] (scale 8-bit images by 1/255)")
    return (~frame_nan).sum(axis=1).astype(np.int64)


def load_user_stimulus(path, *, dt: float | None = None, stimulus_set: str | None = None,
                       extent: int = 15, t_pre: float = 0.0, t_fade_in: float = 2.0,
                       kernel_size: int = 13):
    """Read a user's movie as a stimulus dataset (the layout every stimulus kind returns).

    Parameters
    ----------
    path : ``.nc`` (flycluster stimulus file) or ``.npy`` ((samples, frames, hexals) on the
        lattice or (samples, frames, height, width) images).
    dt : float
        Frame interval in s (> 0); required for ``.npy``. For netCDF, the file's ``dt``; if
        given, it must agree.
    stimulus_set : str, optional
        Name of the set (default: the file's stem).
    extent : int
        Lattice extent (15: 721 hexals); for netCDF, the file's ``extent`` must agree.
    t_pre, t_fade_in : float
        Seconds of grey steady state and of fade-in before each sample (``.npy`` only;
        defaults: flyvis's naturalistic protocol).
    kernel_size : int
        BoxEye box size in pixels for images.

    Returns
    -------
    xarray.Dataset ``stimulus (sample, frame, hexal)`` float32 with the stimulus-file coords
    and attrs (:func:`flycluster.stimuli.io.make_stimulus_dataset`); attr ``spec`` records
    the file name, its sha256, the input layout and the parameters.
    """
    path = Path(path)
    where = f"user stimulus file {path}"
    if not path.is_file():
        raise StimulusError(f"{where} does not exist")
    name = stimulus_set or path.stem
    suffix = path.suffix.lower()
    if suffix not in USER_FILE_SUFFIXES:
        raise StimulusError(f"{where}: unknown suffix {path.suffix!r}; expected one of "
                            f"{USER_FILE_SUFFIXES} (netCDF stimulus file or numpy array)")
    if dt is not None and not (np.isfinite(dt) and dt > 0):
        raise StimulusError(f"{where}: dt={dt} must be a positive number of seconds")
    if suffix == ".nc":
        ds = read_stimulus(path)
        if dt is not None and not np.isclose(float(ds.attrs["dt"]), dt, rtol=0, atol=1e-12):
            raise StimulusError(f"{where}: file has dt={ds.attrs['dt']} s, but dt={dt} s was "
                                "requested")
        if int(ds.attrs["extent"]) != int(extent):
            raise StimulusError(f"{where}: file has extent {ds.attrs['extent']}, expected "
                                f"{extent} ({n_hexals(extent)} hexals)")
        ds.attrs["stimulus_set"] = name
        return ds
    if dt is None:
        raise StimulusError(f"{where}: a .npy movie needs dt (frame interval in seconds)")
    if t_pre < 0 or t_fade_in < 0:
        raise StimulusError(f"{where}: t_pre={t_pre} and t_fade_in={t_fade_in} must be >= 0 s")
    try:
        movie = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        raise StimulusError(f"{where} cannot be read as a numpy array without pickles: "
                            f"{e}") from None
    except OSError as e:
        raise StimulusError(f"{where} cannot be read as a .npy file: {e}") from None
    n_valid = validate_movie_array(movie, where, extent)
    layout = "hexals" if movie.ndim == 3 else "images"
    if layout == "hexals":
        stimulus = np.asarray(movie, dtype=np.float32)
    else:
        from flycluster.stimuli.render import box_eye

        n_sample, n_frame = movie.shape[:2]
        stimulus = np.full((n_sample, n_frame, n_hexals(extent)), np.nan, np.float32)
        for s in range(n_sample):
            frames = np.asarray(movie[s, : n_valid[s]], dtype=np.float32)
            stimulus[s, : n_valid[s]] = box_eye(frames, extent=extent, kernel_size=kernel_size)
    n_sample = stimulus.shape[0]
    coords = {
        "name": np.array([f"{path.stem}_{i}" for i in range(n_sample)], dtype=object),
        "original_index": np.arange(n_sample),
        "vertical_split_index": np.zeros(n_sample, np.int64),
        "temporal_split_index": np.zeros(n_sample, np.int64),
        "frames": n_valid,
        "flip_ax": np.zeros(n_sample, np.int64),
        "n_rot": np.zeros(n_sample, np.int64),
    }
    spec = {"kind": "file", "path": path.name, "sha256": _sha256(path), "layout": layout,
            "shape": list(movie.shape), "dt": float(dt), "t_pre": float(t_pre),
            "t_fade_in": float(t_fade_in), "extent": int(extent)}
    if layout == "images":
        spec["kernel_size"] = int(kernel_size)
    return make_stimulus_dataset(stimulus, coords, stimulus_set=name, kind="naturalistic",
                                 dt=dt, t_pre=t_pre, t_fade_in=t_fade_in, extent=extent,
                                 spec=spec)
