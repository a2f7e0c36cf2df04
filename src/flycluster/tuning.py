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
