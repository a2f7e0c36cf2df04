"""Direction tuning from moving-edge responses, as flyvis computes it, and the measured tuning.

Conventions (``flyvis.analysis.moving_bar_responses``):

- peak response of a sample = max over frames with 0 <= time <= t_stim of relu(response); the
  frames outside that window (and NaN padding) count as 0. For the default offsets (-10..10
  LEDs) flyvis' window from -22.5 deg to +24.75 deg of the edge is exactly [0, t_stim].
- tuning curve = peak responses averaged over speeds and widths, per intensity
  (1 = ON edge, for T4; 0 = OFF edge, for T5); angles in degrees, direction of motion.
- z(theta) = peak(theta) * exp(i theta); direction selectivity index per (speed, width) =
  |sum_theta z| / (max over intensity of sum_theta |z|  + 1e-15), then averaged over speeds
  and widths; it is in [0, 1].
- preferred direction = angle of sum over angles, speeds and widths of z, in degrees [0, 360).

Ground truth: the tuning curves of T4a-d and T5a-d measured by Maisak et al. (2013, Nature
500:212, Fig. 3g,h), as flyvis ships them (12 directions, 0..330 deg), and their preferred
directions a = 180, b = 0, c = 90, d = 270 deg (direction of motion, counter-clockwise
from 0 = rightward as the moving-edge angle).

Inputs are the moving-edge responses of one cell type across networks, an
``xarray.DataArray`` with dims ``(network, sample, frame)`` (as
:func:`flycluster.formats.responses.read_cell_type` returns them): sample coordinates ``angle`` (deg),
``speed`` (columns/s), ``intensity`` (0/1), ``width`` (LEDs), ``t_stim`` (s), and ``time`` (s)
on ``frame``.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

#: Maisak et al. 2013 Fig. 3g,h as shipped by flyvis (``groundtruth_utils.tuning_curves``):
#: normalised responses at 0, 30, ..., 330 degrees.
MAISAK_TUNING: dict[str, tuple[float, ...]] = {
    "T4a": (0.04, 0.05, 0.165, 0.19, 0.29, 0.50, 1.0, 0.585, 0.31, 0.11, 0.06, 0.04),
    "T4b": (0.745, 0.785, 0.305, 0.265, 0.25, 0.335, 0.285, 0.23, 0.14, 0.11, 0.26, 0.775),
    "T4c": (0.04, 0.2, 0.57, 0.775, 0.715, 0.325, 0.22, 0.13, 0.13, 0.22, 0.155, 0.11),
    "T4d": (0.07, 0.07, 0.12, 0.17, 0.21, 0.14, 0.21, 0.29, 0.67, 0.655, 0.7, 0.510),
    "T5a": (0.20, 0.295, 0.265, 0.20, 0.25, 0.65, 1.0, 0.59, 0.29, 0.21, 0.20, 0.22),
    "T5b": (0.83, 0.855, 0.405, 0.16, 0.175, 0.24, 0.30, 0.25, 0.13, 0.2, 0.30, 0.655),
    "T5c": (0.20, 0.44, 0.69, 0.595, 0.745, 0.525, 0.34, 0.255, 0.34, 0.295, 0.26, 0.28),
    "T5d": (0.17, 0.21, 0.21, 0.20, 0.19, 0.15, 0.185, 0.42, 0.85, 0.79, 0.685, 0.565),
}
MAISAK_ANGLES = np.arange(0, 360, 30)

#: Preferred directions (degrees) of the T4/T5 subtypes (flyvis ``preferred_directions``).
PREFERRED_DIRECTIONS: dict[str, int] = {"T4a": 180, "T4b": 0, "T4c": 90, "T4d": 270,
                                        "T5a": 180, "T5b": 0, "T5c": 90, "T5d": 270}

_REQUIRED_SAMPLE_COORDS = ("angle", "speed", "intensity", "width", "t_stim")
_TIME_TOLERANCE = 1e-9  # s: a time coordinate computed as frame * dt - t_pre may miss 0 by 1 ulp


def preferred_intensity(cell_type: str) -> int | None:
    """1 (ON edges) for T4 subtypes, 0 (OFF edges) for T5 subtypes, None for other types."""
    if cell_type.startswith("T4"):
        return 1
    if cell_type.startswith("T5"):
        return 0
    return None


def known_tuning(cell_type: str) -> xr.DataArray | None:
    """Measured tuning of a T4/T5 subtype normalised to max 1: DataArray (angle,) in degrees.

    None for cell types without a measurement.
    """
    if cell_type not in MAISAK_TUNING:
        return None
    values = np.asarray(MAISAK_TUNING[cell_type])
    return xr.DataArray(values / np.abs(values).max(), dims="angle",
                        coords={"angle": MAISAK_ANGLES}, name="known_tuning",
                        attrs={"source": "Maisak et al. 2013, Fig. 3g,h (via flyvis)",
                               "cell_type": cell_type})


def _check(responses: xr.DataArray) -> xr.DataArray:
    if not isinstance(responses, xr.DataArray):
        raise TypeError("responses must be an xarray.DataArray (network, sample, frame)")
    missing = [d for d in ("sample", "frame") if d not in responses.dims]
    if missing:
        raise ValueError(f"responses lack dims {missing}; expected (network, sample, frame)")
    missing = [c for c in _REQUIRED_SAMPLE_COORDS if c not in responses.coords]
    if "time" not in responses.coords:
        missing.append("time")
    if missing:
        raise ValueError(f"moving-edge responses lack coordinates {missing} (expected sample "
                         "coords angle, speed, intensity, width, t_stim and frame coord time)")
    return responses


def peak_responses(responses: xr.DataArray) -> xr.DataArray:
    """Peak of the rectified response while the edge moves: max over 0 <= t <= t_stim of relu(r).

    Parameters
    ----------
    responses : DataArray (..., sample, frame)
        Moving-edge responses with coords ``time`` (frame, s) and ``t_stim`` (sample, s).

    Returns
    -------
    DataArray (..., sample), same sample coordinates; >= 0.
    """
    responses = _check(responses)
    time = responses["time"]
    window = (time >= -_TIME_TOLERANCE) & (time <= responses["t_stim"] + _TIME_TOLERANCE)
    rectified = responses.where(window, 0.0).clip(min=0)
    peak = rectified.max(dim="frame", skipna=True)
    return peak.fillna(0.0).rename("peak_response")


def _unstack(peak: xr.DataArray) -> xr.DataArray:
    """(..., sample) -> (..., angle, width, intensity, speed)."""
    keep = [c for c in peak.coords if "sample" in peak[c].dims
            and c not in ("angle", "width", "intensity", "speed")]
    peak = peak.drop_vars(keep + (["sample"] if "sample" in peak.coords else []))
    return peak.set_index(sample=["angle", "width", "intensity", "speed"]).unstack("sample")


def angular_tuning(responses: xr.DataArray, intensity: int | None = None,
                   normalize: bool = False) -> xr.DataArray:
    """Tuning curves: peak responses per angle, averaged over speeds and widths.

    Parameters
    ----------
    responses : DataArray (network, sample, frame)
    intensity : 0, 1 or None
        Keep one edge polarity (1 = ON, 0 = OFF); None keeps both (dim ``intensity``).
    normalize : bool
        Divide each network's curve by its maximum over angles (and intensities kept), so that
        curves of differently scaled networks overlay (flyvis normalises the plotted curves by
        their max).

    Returns
    -------
    DataArray (network, angle) or (network, intensity, angle); angles in degrees.
    """
    peak = _unstack(peak_responses(responses))
    tuning = peak.mean(dim=("speed", "width"))
    if intensity is not None:
        if intensity not in tuning["intensity"].values:
            raise ValueError(f"intensity {intensity} not among the responses' intensities "
                             f"{tuning['intensity'].values.tolist()}")
        tuning = tuning.sel(intensity=intensity, drop=True)
    dims = [d for d in ("network", "intensity", "angle") if d in tuning.dims]
    tuning = tuning.transpose(*dims, ...)
    if normalize:
        other = [d for d in tuning.dims if d != "network"]
        peak_max = tuning.max(dim=other)
        tuning = tuning / peak_max.where(peak_max > 0)
    return tuning.rename("tuning")


def _complex_peaks(responses):
    peak = _unstack(peak_responses(responses))
    return peak * np.exp(1j * np.deg2rad(peak["angle"]))


def direction_selectivity_index(responses: xr.DataArray) -> xr.DataArray:
    """DSI per network and intensity, averaged over speeds and widths (flyvis' definition).

    Returns
    -------
    DataArray (network, intensity) in [0, 1].
    """
    z = _complex_peaks(responses)
    vector_length = np.abs(z.sum(dim="angle"))
    normalization = np.abs(z).sum(dim="angle").max(dim="intensity")
    dsi = (vector_length / (normalization + 1e-15)).mean(dim=("width", "speed"))
    dims = [d for d in ("network", "intensity") if d in dsi.dims]
    return dsi.transpose(*dims, ...).rename("dsi")


def preferred_direction(responses: xr.DataArray) -> xr.DataArray:
    """Preferred direction per network and intensity: angle of the summed vector, degrees.

    Returns
    -------
    DataArray (network, intensity), degrees in [0, 360).
    """
    z = _complex_peaks(responses).sum(dim=("angle", "width", "speed"))
    theta = xr.apply_ufunc(np.angle, z, kwargs={"deg": True}) % 360.0
    dims = [d for d in ("network", "intensity") if d in theta.dims]
    return theta.transpose(*dims, ...).rename("preferred_direction")


def angular_distance(a, b):
    """Absolute angular difference in degrees, in [0, 180]."""
    d = np.abs((np.asarray(a, float) - np.asarray(b, float)) % 360.0)
    return np.minimum(d, 360.0 - d)


def tuning_summary(responses: xr.DataArray, cell_type: str | None = None) -> xr.Dataset:
    """Everything the tuning figure needs, per network.

    Returns
    -------
    xarray.Dataset with ``tuning (network, intensity, angle)`` (not normalised), ``dsi
    (network, intensity)``, ``preferred_direction (network, intensity)`` (deg); for T4/T5
    subtypes also ``known_tuning (angle_known)`` and attrs ``known_preferred_direction`` and
    ``preferred_intensity``.
    """
    ds = xr.Dataset({"tuning": angular_tuning(responses),
                     "dsi": direction_selectivity_index(responses),
                     "preferred_direction": preferred_direction(responses)})
    if cell_type is not None:
        ds.attrs["cell_type"] = cell_type
        known = known_tuning(cell_type)
        if known is not None:
            ds["known_tuning"] = known.rename(angle="angle_known")
            ds.attrs["known_preferred_direction"] = PREFERRED_DIRECTIONS[cell_type]
        intensity = preferred_intensity(cell_type)
        if intensity is not None:
            ds.attrs["preferred_intensity"] = intensity
    return ds


# -- contrast preference: flash response index ------------------------------------------------

#: Measured contrast preference (1 = ON, -1 = OFF, 0 = unknown) of the 65 cell types, as
#: flyvis 1.2.0 ships it (``flyvis.utils.groundtruth_utils.polarity``; the labels coloured
#: in the paper's Fig. 2b, Lappalainen et al. 2024, from the literature cited there, e.g.
#: L5: Drews et al. 2020, Matulis et al. 2020).
KNOWN_POLARITY: dict[str, int] = {
    "R1": 1, "R2": 1, "R3": 1, "R4": 1, "R5": 1, "R6": 1, "R7": 1, "R8": 1,
    "L1": -1, "L2": -1, "L3": -1, "L4": -1, "L5": 1, "Lawf1": 0, "Lawf2": 0, "Am": 0,
    "C2": 0, "C3": 1, "CT1(Lo1)": -1, "CT1(M10)": 1, "Mi1": 1, "Mi2": 0, "Mi3": 0, "Mi4": 1,
    "Mi9": -1, "Mi10": 0, "Mi11": 0, "Mi12": 0, "Mi13": 0, "Mi14": 0, "Mi15": 0, "T1": 0,
    "T2": 0, "T2a": 0, "T3": 0, "T4a": 1, "T4b": 1, "T4c": 1, "T4d": 1, "T5a": -1, "T5b": -1,
    "T5c": -1, "T5d": -1, "Tm1": -1, "Tm2": -1, "Tm3": 1, "Tm4": -1, "Tm5Y": 0, "Tm5a": 0,
    "Tm5b": 0, "Tm5c": 0, "Tm9": -1, "Tm16": 0, "Tm20": 0, "Tm28": 0, "Tm30": 0, "TmY3": 0,
    "TmY4": 0, "TmY5a": 0, "TmY9": 0, "TmY10": 0, "TmY13": 0, "TmY14": 0, "TmY15": 0,
    "TmY18": 0,
}

#: Cell types measured as direction selective (flyvis ``groundtruth_utils.motion_tuning``)
#: and those measured as not (``no_motion_tuning``: the T4/T5 inputs); the DS labels of the
#: paper's Fig. 2c.
KNOWN_DIRECTION_SELECTIVE: tuple[str, ...] = ("T4a", "T4b", "T4c", "T4d",
                                              "T5a", "T5b", "T5c", "T5d")
KNOWN_NOT_DIRECTION_SELECTIVE: tuple[str, ...] = ("Tm1", "Tm2", "Tm4", "Tm9", "CT1(Lo1)",
                                                  "Mi1", "Tm3", "Mi4", "Mi9", "CT1(M10)")


def known_polarity(cell_types) -> xr.DataArray:
    """Measured contrast preference per cell type: 1 ON, -1 OFF, 0 unknown (or not listed).

    Returns
    -------
    DataArray (cell_type,) int8, attr ``source``.
    """
    cell_types = [str(c) for c in np.atleast_1d(cell_types)]
    return xr.DataArray(np.array([KNOWN_POLARITY.get(c, 0) for c in cell_types], np.int8),
                        dims="cell_type", coords={"cell_type": cell_types},
                        name="known_polarity",
                        attrs={"source": "flyvis 1.2.0 groundtruth_utils.polarity "
                                         "(Lappalainen et al. 2024, Fig. 2b)",
                               "flag_meanings": "1 ON, -1 OFF, 0 unknown"})


def known_direction_selectivity(cell_types) -> xr.DataArray:
    """Measured direction selectivity per cell type: 1 DS, 0 not DS, -1 unknown.

    Returns
    -------
    DataArray (cell_type,) int8.
    """
    cell_types = [str(c) for c in np.atleast_1d(cell_types)]
    values = [1 if c in KNOWN_DIRECTION_SELECTIVE else 0 if c in KNOWN_NOT_DIRECTION_SELECTIVE
              else -1 for c in cell_types]
    return xr.DataArray(np.array(values, np.int8), dims="cell_type",
                        coords={"cell_type": cell_types}, name="known_direction_selective",
                        attrs={"source": "flyvis 1.2.0 groundtruth_utils.motion_tuning and "
                                         "no_motion_tuning (Lappalainen et al. 2024, Fig. 2c)",
                               "flag_meanings": "1 DS, 0 not DS, -1 unknown"})


def _flash_dt(responses: xr.DataArray, dt):
    if dt is not None:
        return float(dt)
    if "dt" in responses.attrs:
        return float(responses.attrs["dt"])
    time = np.asarray(responses["time"].values, dtype=np.float64)
    if time.size < 2:
        raise ValueError("flash responses: cannot infer dt from a single frame; pass dt")
    # the step of a time coordinate frame * dt - t_pre carries rounding (0.0050000000000000044
    # for dt = 1/200), which would move the window's first frame: round to 1e-12 s
    return float(np.round(np.median(np.diff(time)), 12))


def flash_response_index(responses: xr.DataArray, radius=6, on_intensity: float = 1.0,
                         off_intensity: float = 0.0, nonnegative: bool = True,
                         t_stim: float = 1.0, dt: float | None = None) -> xr.DataArray:
    """Flash response index (FRI), ON/OFF contrast preference, exactly as flyvis computes it.

    flyvis 1.2.0 ``flyvis.analysis.flash_responses.flash_response_index`` (used with
    ``radius=6`` for the paper's Fig. 2b and ``EnsembleView.flash_response_index``):

    1. keep the frames with ``-dt <= time <= t_stim`` (time = frame * dt - t_pre, so the last
       baseline frame before the flash and the flash itself, both ends included, compared
       exactly) and the samples of the given radius;
    2. if ``nonnegative``: add ``|min|`` of the response over those frames and both
       intensities (per network and cell type) to it -- note flyvis *adds* the absolute
       minimum, so a response that stays positive is shifted up, not to 0;
    3. ``on = max over frames`` of the ON flash sample (intensity ``on_intensity``),
       ``off`` likewise for ``off_intensity``;
    4. ``FRI = (on - off) / (on + off + 1e-16)``, in [-1, 1] with ``nonnegative``:
       1 = responds to light increments (ON), -1 = to decrements (OFF).

    Arithmetic follows flyvis's dtypes: for float32 responses the shift, difference and sum
    are float32, the denominator is promoted to float64 by the 1e-16, the quotient is
    computed in float64 and stored as float32 (flyvis divides in place).

    Parameters
    ----------
    responses : DataArray (..., sample, frame, ...)
        Flash responses as flycluster stores them (:func:`flycluster.responses.read_cell_type`
        gives (network, sample, frame); a response file's ``responses`` variable gives
        (sample, frame, cell_type)): sample coords ``intensity`` and ``radius``, frame coord
        ``time`` (s). Any other dims (network, cell_type) are kept.
    radius : int, sequence of int or None
        Flash radius (hexals; -1 = full field) to use; flyvis's ensemble figure uses 6. A
        sequence or None (every radius present) adds a ``radius`` dim.
    on_intensity, off_intensity : float
        Intensities of the ON and OFF flash samples (flyvis default 1 and 0).
    nonnegative : bool
        Shift the responses by their absolute minimum first (flyvis default True).
    t_stim : float
        Flash duration in s (end of the window; flyvis's Flashes default 1 s).
    dt : float, optional
        Time step in s; default the ``dt`` attribute (response files and
        :func:`~flycluster.responses.read_cell_type` carry it), else the time coordinate's
        step rounded to 1e-12 s.

    Returns
    -------
    DataArray (..., [radius]) named ``fri``, the input's dims without sample and frame.

    Raises
    ------
    ValueError
        Missing coords, no sample for the radius, or not exactly one ON and one OFF sample
        for it.
    """
    if not isinstance(responses, xr.DataArray):
        raise TypeError("responses must be an xarray.DataArray (..., sample, frame, ...)")
    missing = [d for d in ("sample", "frame") if d not in responses.dims]
    missing += [c for c in ("intensity", "radius", "time") if c not in responses.coords]
    if missing:
        raise ValueError(f"flash responses lack {missing}; expected dims sample and frame, "
                         "sample coords intensity and radius, frame coord time (s)")
    dt = _flash_dt(responses, dt)
    time = np.asarray(responses["time"].values, dtype=np.float64)
    window = np.flatnonzero((time >= -dt) & (time <= t_stim))
    if window.size == 0:
        raise ValueError(f"flash responses have no frame with {-dt} <= time <= {t_stim} s")
    radii = np.asarray(responses["radius"].values)
    intensities = np.asarray(responses["intensity"].values, dtype=np.float64)
    scalar = radius is not None and np.ndim(radius) == 0
    wanted = (np.unique(radii) if radius is None else np.atleast_1d(radius))
    out = []
    for rad in wanted:
        in_radius = radii == rad
        if not in_radius.any():
            raise ValueError(f"no flash sample with radius {rad}; radii present: "
                             f"{sorted(set(radii.tolist()))}")
        on_idx = np.flatnonzero(in_radius & (intensities == on_intensity))
        off_idx = np.flatnonzero(in_radius & (intensities == off_intensity))
        if len(on_idx) != 1 or len(off_idx) != 1:
            raise ValueError(f"radius {rad}: need exactly one sample of intensity "
                             f"{on_intensity} (ON) and one of {off_intensity} (OFF), found "
                             f"{len(on_idx)} and {len(off_idx)}")
        stim = responses.isel(frame=window, sample=np.flatnonzero(in_radius))
        stim = stim.drop_vars([c for c in stim.coords
                               if set(stim[c].dims) & {"sample", "frame"}])
        if nonnegative:
            stim = stim + np.abs(stim.min(dim=("frame", "sample")))
        # positions of the ON/OFF samples within the radius selection
        pos = np.flatnonzero(in_radius)
        on = stim.isel(sample=int(np.searchsorted(pos, on_idx[0]))).max(dim="frame")
        off = stim.isel(sample=int(np.searchsorted(pos, off_idx[0]))).max(dim="frame")
        # flyvis: difference and sum in the responses' dtype, + a float64 array([1e-16]) that
        # promotes the denominator to float64, then an in-place division into the difference:
        # computed in float64, stored in the difference's dtype (float32 for our responses)
        difference = on - off
        denominator = (on + off).astype(np.float64) + 1e-16
        fri = (difference.astype(np.float64) / denominator).astype(difference.dtype)
        out.append(fri)
    fri = xr.concat(out, dim=xr.DataArray(wanted, dims="radius", name="radius")) \
        if not scalar else out[0]
    if scalar:
        fri = fri.assign_attrs(radius=int(wanted[0]))
    fri.attrs.update(long_name="flash response index (ON - OFF) / (ON + OFF)",
                     nonnegative=int(bool(nonnegative)), t_stim=float(t_stim), dt=dt,
                     on_intensity=float(on_intensity), off_intensity=float(off_intensity))
    return fri.rename("fri")
